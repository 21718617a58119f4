/** The tokenizer.json format (HF tokenizers) as this project reads and writes it. */
/** A parsed tokenizer.json (the fields this module reads are typed; the rest passes through). */
export interface TokenizerJson {
  version?: string;
  truncation?: unknown;
  padding?: { pad_id?: number; pad_token?: string; pad_type_id?: number } | null;
  added_tokens?: Array<{ id: number; content: string; special?: boolean; [k: string]: unknown }>;
  normalizer?: unknown;
  pre_tokenizer?: unknown;
  post_processor?: PostProcessorJson | null;
  decoder?: unknown;
  model: { type?: string; vocab?: unknown; [k: string]: unknown };
  [k: string]: unknown;
}

export type PostProcessorJson = { type?: string; [k: string]: unknown };
