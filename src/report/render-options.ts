// What every report renderer is given besides the view.

export interface RenderOptions {
  /** Terminal columns (the table renderer fits its lines to them; at least 20). */
  width: number;
  /** ANSI colour, for terminal output only. */
  color: boolean;
  /** List every candidate of a row, not only the best one. */
  allCandidates: boolean;
}
