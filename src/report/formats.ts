// The report formats: one pure renderer per format, `(view, opts) => string`. Only cli/sink.ts writes.
import { renderHtml } from './render-html.ts';
import { renderJson } from './render-json.ts';
import { renderMarkdown } from './render-md.ts';
import type { RenderOptions } from './render-options.ts';
import { renderReportTable } from './render-table.ts';
import type { ReportFormat, ReportView } from './view.ts';

export type { RenderOptions } from './render-options.ts';

export type Renderer = (view: ReportView, opts: RenderOptions) => string;

/** `satisfies`: a new ReportFormat does not compile until it has a renderer. */
export const RENDERERS = {
  table: renderReportTable,
  md: renderMarkdown,
  json: renderJson,
  html: renderHtml,
} satisfies Record<ReportFormat, Renderer>;

/** The format names, for `--format` choices, in registry order. */
export const REPORT_FORMATS: readonly ReportFormat[] = Object.keys(RENDERERS).filter(isReportFormat);

export function isReportFormat(name: string): name is ReportFormat {
  return Object.hasOwn(RENDERERS, name);
}
