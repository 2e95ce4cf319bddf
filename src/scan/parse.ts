// The only importer of tree-sitter. One parser per thread.
import Parser from 'tree-sitter';
import C from 'tree-sitter-c';

export type SyntaxNode = Parser.SyntaxNode;

let parser: Parser | null = null;

function getParser(): Parser {
  if (parser === null) {
    const p = new Parser();
    // tree-sitter-c types its inner `language` as unknown; the binding checks the ABI at runtime.
    p.setLanguage(C as Parser.Language);
    parser = p;
  }
  return parser;
}

export function parseC(text: string): Parser.Tree {
  // tree-sitter's default 32 kB buffer makes it read long inputs in many slices; one slice is faster.
  return getParser().parse(text, undefined, { bufferSize: Math.max(32 * 1024, text.length + 1) });
}
