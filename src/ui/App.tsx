// The application shell. Later screens (model, tasks, training, evaluation, export) hang off this layout.

import { GpuPanel } from './GpuPanel';

export function App() {
  return (
    <>
      <header className="top">
        <h1>MetaLoRA Studio</h1>
        <p className="tagline">Fine-tune small LLaMA-family models with MeTA-LoRA, entirely on your GPU. Nothing leaves your machine.</p>
      </header>
      <main>
        <GpuPanel />
      </main>
    </>
  );
}
