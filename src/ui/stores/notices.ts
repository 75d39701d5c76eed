// Messages for the user that are not tied to one panel: storage failures, a lost GPU device.

import { create } from 'zustand';

export interface Notice {
  id: number;
  level: 'error' | 'info';
  text: string;
}

interface NoticeState {
  notices: Notice[];
  push(level: Notice['level'], text: string): void;
  dismiss(id: number): void;
}

let next = 1;

export const useNotices = create<NoticeState>((set) => ({
  notices: [],
  push: (level, text) =>
    set((s) => ({ notices: [...s.notices.filter((n) => n.text !== text), { id: next++, level, text }] })),
  dismiss: (id) => set((s) => ({ notices: s.notices.filter((n) => n.id !== id) })),
}));
