// Shows the WebGPU adapter the engine found (or why there is none), its limits and features, and a self-test.

import { useEffect } from 'react';
import { useGpu } from './gpuStore';

const fmt = (n: number) => (n >= 2 ** 20 ? `${(n / 2 ** 20).toLocaleString()} MiB` : n.toLocaleString());

export function GpuPanel() {
  const { status, info, error, selfTest, selfTestError, probe } = useGpu();
  useEffect(() => {
    if (status === 'idle') void probe();
  }, [status, probe]);

  if (status === 'idle' || status === 'probing') {
    return (
      <section className="card" aria-busy="true">
        <h2>GPU</h2>
        <p>Looking for a WebGPU adapter…</p>
      </section>
    );
  }
  if (status === 'unavailable' || !info) {
    return (
      <section className="card error" role="alert" data-testid="gpu-unavailable">
        <h2>No WebGPU adapter</h2>
        <p>{error?.message}</p>
        <button type="button" onClick={() => void probe()}>
          Try again
        </button>
      </section>
    );
  }
  return (
    <section className="card" data-testid="gpu-ready">
      <h2>GPU</h2>
      <p className="adapter" data-testid="adapter-name">
        <strong>{[info.vendor, info.architecture].filter(Boolean).join(' ') || 'Unknown vendor'}</strong>
        {info.description && <> — {info.description}</>}
        {info.isSoftware && (
          <span className="badge" title="A CPU implementation of WebGPU: correct, but slow">
            software
          </span>
        )}
      </p>
      <details>
        <summary>Features and limits</summary>
        <h3>Features</h3>
        <ul className="features">
          {['shader-f16', 'subgroups', 'timestamp-query'].map((f) => (
            <li key={f} className={info.features.includes(f) ? 'on' : 'off'}>
              {info.features.includes(f) ? '✓' : '✗'} {f}
            </li>
          ))}
        </ul>
        <h3>Kernel variants</h3>
        <p>
          {Object.keys(info.kernels).length
            ? 'Measured on this GPU when a model first loaded (kept in this browser): the fastest correct candidate per family.'
            : 'Measured on this GPU when a model first loads (once; kept in this browser).'}
        </p>
        <ul className="features" data-testid="kernel-variants">
          {Object.entries(info.kernels).map(([family, variant]) => (
            <li key={family}>
              {family}: <code>{variant}</code>
            </li>
          ))}
        </ul>
        <h3>Limits</h3>
        <table className="limits">
          <tbody>
            {Object.entries(info.limits).map(([k, v]) => (
              <tr key={k}>
                <th scope="row">{k}</th>
                <td>{fmt(v)}</td>
              </tr>
            ))}
          </tbody>
        </table>
      </details>
      {!selfTest && !selfTestError && <p aria-busy="true">Multiplying matrices on the GPU…</p>}
      {selfTestError && (
        <p className="error" role="alert">
          Self-test failed: {selfTestError}
        </p>
      )}
      {selfTest && (
        <div data-testid="self-test" className="selftest">
          <p>
            Self-test: [[1,2,3],[4,5,6]] · [[7,8],[9,10],[11,12]] ={' '}
            <code data-testid="small-product">
              [[{selfTest.small.slice(0, 2).join(',')}],[{selfTest.small.slice(2).join(',')}]]
            </code>
          </p>
          <p data-testid="self-test-status" className={selfTest.pass ? 'ok' : 'error'}>
            {selfTest.pass ? 'PASS' : 'FAIL'}: random {selfTest.shape.join('×')} product on the GPU ({selfTest.kernel}{' '}
            kernel) matches the float64 reference, max |error| {selfTest.maxAbsError.toExponential(2)} (bound{' '}
            {selfTest.bound.toExponential(2)}), {selfTest.ms.toFixed(0)} ms.
          </p>
        </div>
      )}
    </section>
  );
}
