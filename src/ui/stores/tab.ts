// Which step is on screen.

import { create } from 'zustand';

export const TABS = [
  { id: 'model', label: '1 Model' },
  { id: 'tasks', label: '2 Tasks' },
  { id: 'method', label: '3 Method' },
  { id: 'train', label: '4 Train' },
  { id: 'evaluate', label: '5 Evaluate' },
  { id: 'compare', label: '6 Compare' },
  { id: 'playground', label: '7 Playground' },
  { id: 'export', label: '8 Export' },
] as const;

export type TabId = (typeof TABS)[number]['id'];

export const useTab = create<{ tab: TabId; setTab(t: TabId): void }>((set) => ({
  tab: 'model',
  setTab: (tab) => set({ tab }),
}));
