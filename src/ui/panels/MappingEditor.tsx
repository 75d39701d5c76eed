// The editable field mapping of one dataset: schema, task name (or the column that names each row's task),
// prompt and completion templates, the label → answer-word map, and chat formatting. Edits are applied on
// blur / change and re-read by the worker, which answers with a fresh preview and report (or why not).

import { useState } from 'react';
import { type FieldMapping, SCHEMA_CHOICES, type SchemaId } from '../../data/index';
import type { DatasetRecord } from '../stores/tasks';
import { useTasks } from '../stores/tasks';

function TemplateField({
  label,
  value,
  onApply,
  id,
}: {
  label: string;
  value: string;
  onApply: (v: string) => void;
  id: string;
}) {
  const [text, setText] = useState(value);
  return (
    <label>
      {label}
      <textarea
        id={id}
        rows={2}
        value={text}
        onChange={(e) => setText(e.target.value)}
        onBlur={() => text !== value && onApply(text)}
      />
    </label>
  );
}

function parseLabels(text: string): Record<string, string> {
  return Object.fromEntries(
    text
      .split(/\n|,(?=[^,]*=)/)
      .map((l) => l.trim())
      .filter(Boolean)
      .map((l) => {
        const eq = l.indexOf('=');
        return eq < 0 ? [l, l] : [l.slice(0, eq).trim(), l.slice(eq + 1).trim()];
      }),
  );
}

export function MappingEditor({ d, hasChatTemplate }: { d: DatasetRecord; hasChatTemplate: boolean }) {
  const { setMapping, setSchema } = useTasks();
  const m = d.result!.mapping;
  const apply = (change: Partial<FieldMapping>) => void setMapping(d.id, { ...m, ...change });
  const columns = d.result!.columns;
  const labels = m.answer?.labels;
  // Remount the text fields when the worker answers with another mapping (a schema change).
  const key = JSON.stringify(m);
  return (
    <fieldset className="mapping" key={key}>
      <legend>Field mapping</legend>
      <div className="grid2">
        <div>
          <label>
            Schema
            <select
              value={m.schema}
              onChange={(e) => void setSchema(d.id, e.target.value as SchemaId)}
              data-testid="schema-select"
            >
              {SCHEMA_CHOICES.map((c) => (
                <option key={c.id} value={c.id}>
                  {c.title}
                </option>
              ))}
            </select>
          </label>
          <label>
            Task column
            <select value={m.taskColumn ?? ''} onChange={(e) => apply({ taskColumn: e.target.value || null })}>
              <option value="">none: the whole file is one task</option>
              {columns.map((c) => (
                <option key={c} value={c}>
                  {c}
                </option>
              ))}
            </select>
          </label>
          {m.taskColumn === null && (
            <label>
              Task name
              <input
                defaultValue={m.taskName}
                onBlur={(e) =>
                  e.target.value.trim() && e.target.value !== m.taskName && apply({ taskName: e.target.value.trim() })
                }
                data-testid="task-name"
              />
            </label>
          )}
          {hasChatTemplate && (
            <label className="inline">
              <input
                type="checkbox"
                checked={m.format === 'chat'}
                onChange={(e) => apply({ format: e.target.checked ? 'chat' : 'template' })}
              />
              Format prompts with the model's chat template
            </label>
          )}
          {m.format === 'chat' && (
            <TemplateField
              id={`${d.id}-system`}
              label="System message (optional)"
              value={m.system}
              onApply={(system) => apply({ system })}
            />
          )}
        </div>
        <div>
          <TemplateField
            id={`${d.id}-prompt`}
            label="Prompt template"
            value={m.prompt}
            onApply={(prompt) => apply({ prompt })}
          />
          <TemplateField
            id={`${d.id}-completion`}
            label="Completion template"
            value={m.completion}
            onApply={(completion) => apply({ completion })}
          />
          <small>
            Columns: {columns.map((c) => `{${c}}`).join(' ')} · {'{field|final}'} takes the text after ####,{' '}
            {'{?field}…{/field}'} only when the field is not empty.
          </small>
          {m.answer && (
            <TemplateField
              id={`${d.id}-labels`}
              label={`Answer words for ${m.answer.field} (value=word, one per line)`}
              value={
                labels
                  ? Object.entries(labels)
                      .map(([k, v]) => `${k}=${v}`)
                      .join('\n')
                  : ''
              }
              onApply={(text) => apply({ answer: { ...m.answer!, labels: text.trim() ? parseLabels(text) : null } })}
            />
          )}
        </div>
      </div>
    </fieldset>
  );
}
