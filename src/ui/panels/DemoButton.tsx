// The one-click demo for newcomers: load stories260K from the Hub (about 1 MB, cached after the first time),
// add its four short TinyStories-style tasks, pick MeTA-LoRA with the quick-demo preset, and start training.

import { useState } from 'react';
import { useModel } from '../stores/model';
import { useRuns } from '../stores/runs';
import { useSettings } from '../stores/settings';
import { useTab } from '../stores/tab';
import { activeTasks, useTasks } from '../stores/tasks';
import { DEMO_SETS } from './TasksPanel';

export function DemoButton() {
  const [busy, setBusy] = useState(false);
  const run = async () => {
    setBusy(true);
    try {
      const model = useModel.getState();
      if (
        model.summary?.label !== 'stories260K (TinyStories, 260K parameters)' &&
        !(await model.load({ kind: 'preset', presetId: 'stories260K' }, 'keep'))
      ) {
        useTab.getState().setTab('model');
        return;
      }
      const tasks = useTasks.getState();
      const have = new Set(tasks.datasets.map((d) => d.fileName));
      const missing = DEMO_SETS.stories.filter((u) => !have.has(u.slice(u.lastIndexOf('/') + 1)));
      if (missing.length) await tasks.addFromUrls(missing);
      const settings = useSettings.getState();
      settings.setMethod('meta-lora');
      settings.applyPreset('demo');
      useTab.getState().setTab('train');
      await useRuns
        .getState()
        .start(
          activeTasks(useTasks.getState().datasets),
          useSettings.getState().settings,
          'Demo: MeTA-LoRA on stories',
        );
    } finally {
      setBusy(false);
    }
  };
  return (
    <button type="button" onClick={() => void run()} disabled={busy} data-testid="demo">
      {busy ? 'Preparing the demo…' : 'Try the demo (stories260K, one click)'}
    </button>
  );
}
