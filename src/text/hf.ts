/**
 * The parts of `@huggingface/tokenizers` this project uses, typed here: the package's .d.ts files
 * use extensionless relative re-exports, which NodeNext module resolution cannot follow, so most
 * of its exports would otherwise be untyped or missing.
 */
import * as hfTokenizers from '@huggingface/tokenizers';

export interface HfEncoding {
  ids: number[];
  tokens: string[];
  /** All 1: the package neither truncates nor pads. */
  attention_mask: number[];
}

export interface HfTokenizer {
  encode(text: string, options?: { text_pair?: string | null; add_special_tokens?: boolean }): HfEncoding;
  tokenize(text: string, options?: { text_pair?: string | null; add_special_tokens?: boolean }): string[];
  decode(ids: number[], options?: { skip_special_tokens?: boolean }): string;
  token_to_id(token: string): number | undefined;
  id_to_token(id: number): string | undefined;
  get_vocab(withAddedTokens?: boolean): Map<string, number>;
}

interface HfModule {
  Tokenizer: new (tokenizerJson: object, tokenizerConfig: object) => HfTokenizer;
  BertNormalizer: new (config: object) => { normalize(text: string): string };
  BertPreTokenizer: new () => { pre_tokenize_text(text: string): string[] };
}

export const hf = hfTokenizers as unknown as HfModule;
