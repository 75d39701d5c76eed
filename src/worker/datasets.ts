// Dataset files for the app, read in the worker so a large file never freezes the page: bytes → table →
// mapping (detected, or the user's edited one, or a schema they picked) → preview, tasks and the validation
// report. With a model loaded, example lengths are checked in its tokens and its chat template is available.

import { ChatTemplate } from '../io/chatTemplate';
import type { Tokenizer } from '../io/tokenizer';
import { applyMapping, detectMapping, mappingForSchema, preview, readTable } from '../data/index';
import type { DatasetRequest, DatasetResult } from './protocol';

/** Rows shown in the mapping preview. */
const PREVIEW_ROWS = 5;

export function readDataset(
  req: DatasetRequest,
  model: { tokenizer: Tokenizer; chatTemplate: string | null } | null,
): DatasetResult {
  const table = readTable(req.fileName, req.bytes, req.header === undefined ? {} : { header: req.header });
  const mapping = req.mapping ?? (req.schema ? mappingForSchema(table, req.schema) : detectMapping(table));
  const chatTemplate = model?.chatTemplate ? new ChatTemplate(model.chatTemplate) : undefined;
  const { tasks, report } = applyMapping(table, mapping, {
    duplicates: req.duplicates,
    chatTemplate,
    tokens: model ? { tokenizer: model.tokenizer, maxLength: req.maxLength, policy: req.lengthPolicy } : undefined,
  });
  return {
    format: table.format,
    header: table.header,
    columns: table.columns,
    mapping,
    preview: preview(table, mapping, PREVIEW_ROWS, chatTemplate),
    tasks,
    report,
  };
}
