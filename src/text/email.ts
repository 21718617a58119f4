/**
 * Just enough RFC 822 / MIME to turn a raw e-mail into its subject and readable body text: headers
 * are dropped (their routing lines, addresses and mailer names would let a classifier learn the
 * mail servers instead of the text), transfer encodings are undone, HTML is reduced to its text and
 * attachments that are not text are skipped.
 */

const MAX_DEPTH = 8;

interface Entity {
  /** Lower-case header names; the first occurrence of each wins. */
  headers: Map<string, string>;
  body: string;
}

interface ContentType {
  type: string;
  params: Map<string, string>;
}

/** Splits at the first blank line and unfolds the header block (an mbox "From " line is ignored). */
function parseEntity(raw: string): Entity {
  const text = raw.replace(/\r\n?/g, '\n');
  const blank = text.search(/\n[ \t]*\n/);
  let head: string;
  let body: string;
  if (text.startsWith('\n')) {
    head = '';
    body = text.slice(1);
  } else if (blank < 0) {
    head = text;
    body = '';
  } else {
    head = text.slice(0, blank);
    body = text.slice(text.indexOf('\n', blank + 1) + 1);
  }
  const headers = new Map<string, string>();
  let last: string | undefined;
  for (const line of head.split('\n')) {
    if (/^[ \t]/.test(line) && last !== undefined) {
      headers.set(last, `${headers.get(last) ?? ''} ${line.trim()}`);
      continue;
    }
    const m = /^([!-9;-~]+):[ \t]*(.*)$/.exec(line);
    if (!m) {
      last = undefined;
      continue;
    }
    const name = (m[1] as string).toLowerCase();
    if (headers.has(name)) {
      last = undefined;
      continue;
    }
    headers.set(name, (m[2] as string).trim());
    last = name;
  }
  return { headers, body };
}

function parseContentType(value: string | undefined): ContentType {
  const params = new Map<string, string>();
  if (!value) return { type: 'text/plain', params };
  const type = (/^\s*([^;\s]+)/.exec(value)?.[1] ?? 'text/plain').toLowerCase();
  for (const m of value.matchAll(/;\s*([\w.-]+)\s*=\s*(?:"([^"]*)"|([^;\s]+))/g)) {
    params.set((m[1] as string).toLowerCase(), m[2] ?? m[3] ?? '');
  }
  return { type, params };
}

/** A string's characters as bytes: code points below 256 as themselves, others as UTF-8. */
function toBytes(s: string): Uint8Array {
  const out: number[] = [];
  for (const ch of s) {
    const cp = ch.codePointAt(0) as number;
    if (cp < 256) out.push(cp);
    else out.push(...Buffer.from(ch, 'utf8'));
  }
  return Uint8Array.from(out);
}

function decodeBytes(bytes: Uint8Array, charset: string | undefined): string {
  try {
    return new TextDecoder(charset || 'utf-8').decode(bytes);
  } catch {
    return new TextDecoder('windows-1252').decode(bytes);
  }
}

function decodeQuotedPrintable(body: string, charset: string | undefined): string {
  const joined = body.replace(/=[ \t]*\n/g, '');
  const bytes = toBytes(joined);
  const out: number[] = [];
  for (let i = 0; i < bytes.length; i++) {
    const b = bytes[i] as number;
    if (b === 0x3d && i + 2 < bytes.length) {
      const hex = String.fromCharCode(bytes[i + 1] as number, bytes[i + 2] as number);
      if (/^[0-9A-Fa-f]{2}$/.test(hex)) {
        out.push(parseInt(hex, 16));
        i += 2;
        continue;
      }
    }
    out.push(b);
  }
  return decodeBytes(Uint8Array.from(out), charset);
}

function decodeBody(entity: Entity, charset: string | undefined): string {
  const encoding = (entity.headers.get('content-transfer-encoding') ?? '').trim().toLowerCase();
  if (encoding === 'quoted-printable') return decodeQuotedPrintable(entity.body, charset);
  if (encoding === 'base64') {
    return decodeBytes(Buffer.from(entity.body.replace(/[^A-Za-z0-9+/=]/g, ''), 'base64'), charset);
  }
  return entity.body;
}

/** RFC 2047 encoded words (`=?charset?B|Q?...?=`) in a header value. */
export function decodeHeaderValue(value: string): string {
  const word = /=\?([^?\s]+)\?([bBqQ])\?([^?\s]*)\?=/g;
  return value.replace(/(\?=)\s+(?==\?)/g, '$1').replace(word, (_all, charset: string, enc: string, text: string) => {
    const bytes =
      enc.toLowerCase() === 'b'
        ? Buffer.from(text, 'base64')
        : toBytes(text.replace(/_/g, ' ').replace(/=([0-9A-Fa-f]{2})/g, (_m, h: string) => String.fromCharCode(parseInt(h, 16))));
    return decodeBytes(bytes, charset.replace(/\*.*$/, ''));
  });
}

const NAMED_ENTITIES: Record<string, string> = {
  nbsp: ' ',
  amp: '&',
  lt: '<',
  gt: '>',
  quot: '"',
  apos: "'",
  copy: '©',
  reg: '®',
  trade: '™',
  mdash: '—',
  ndash: '–',
  hellip: '…',
  lsquo: '‘',
  rsquo: '’',
  ldquo: '“',
  rdquo: '”',
  bull: '•',
  middot: '·',
  pound: '£',
  euro: '€',
  cent: '¢',
  yen: '¥',
  deg: '°',
};

const BLOCK_TAGS =
  /^(br|p|div|tr|td|th|li|ul|ol|dl|dt|dd|table|tbody|thead|h[1-6]|title|hr|blockquote|center|body|html|head|form|option|select|pre|address|caption|frame|iframe)$/;

/** The visible text of an HTML document: comments, scripts and styles go; tags become spaces at block boundaries. */
export function htmlToText(html: string): string {
  const text = html
    .replace(/<!--[\s\S]*?-->/g, ' ')
    .replace(/<(script|style)\b[^>]*>[\s\S]*?<\/\1\s*>/gi, ' ')
    .replace(/<\/?([a-zA-Z][a-zA-Z0-9]*)\b[^>]*>/g, (_tag, name: string) => (BLOCK_TAGS.test(name.toLowerCase()) ? '\n' : ''))
    .replace(/<![^>]*>/g, ' ');
  return text.replace(/&(#[0-9]{1,7}|#[xX][0-9a-fA-F]{1,6}|[a-zA-Z]+);/g, (all, ref: string) => {
    if (ref.startsWith('#')) {
      const cp = ref[1] === 'x' || ref[1] === 'X' ? parseInt(ref.slice(2), 16) : parseInt(ref.slice(1), 10);
      return cp > 0 && cp <= 0x10ffff ? String.fromCodePoint(cp) : ' ';
    }
    return NAMED_ENTITIES[ref.toLowerCase()] ?? all;
  });
}

const HTML_TAG = /<\/?(html|head|body|font|br|p|div|table|tr|td|a|b|i|u|center|img|span|strong|em|li|ul|ol|h[1-6])\b[^<>]*>/gi;

/** A line `--boundary` followed by part headers that include a Content-Type. */
const UNDECLARED_PART = /(?:^|\n)--(\S+)[ \t]*\n(?:[!-9;-~]+:.*\n)*?content-type:/i;

/** Three or more common HTML tags: text declared as plain (or undeclared) that is really HTML. */
function looksLikeHtml(text: string): boolean {
  let count = 0;
  for (const _ of text.matchAll(HTML_TAG)) if (++count >= 3) return true;
  return false;
}

function multipartBodies(body: string, boundary: string): string[] {
  const parts: string[] = [];
  let current: string[] | undefined;
  for (const line of body.split('\n')) {
    const trimmed = line.trimEnd();
    if (trimmed === `--${boundary}--`) {
      if (current) parts.push(current.join('\n'));
      current = undefined;
      break;
    }
    if (trimmed === `--${boundary}`) {
      if (current) parts.push(current.join('\n'));
      current = [];
      continue;
    }
    current?.push(line);
  }
  if (current) parts.push(current.join('\n'));
  return parts;
}

function entityText(entity: Entity, depth: number): string {
  const ct = parseContentType(entity.headers.get('content-type'));
  const charset = ct.params.get('charset');
  if (ct.type.startsWith('multipart/') && depth < MAX_DEPTH) {
    const boundary = ct.params.get('boundary');
    const parts = boundary ? multipartBodies(entity.body, boundary).map(parseEntity) : [];
    if (parts.length === 0) return entity.body;
    const texts = parts.map((p) => entityText(p, depth + 1)).filter((t) => t.trim() !== '');
    if (ct.type === 'multipart/alternative') {
      // The longest rendering: a text/plain alternative is often just "this is an HTML message".
      return texts.reduce((best, t) => (t.trim().length > best.trim().length ? t : best), '');
    }
    return texts.join('\n');
  }
  if (ct.type === 'message/rfc822' && depth < MAX_DEPTH) {
    const inner = parseEntity(decodeBody(entity, charset));
    const subject = decodeHeaderValue(inner.headers.get('subject') ?? '');
    return `${subject}\n${entityText(inner, depth + 1)}`;
  }
  if (ct.type === 'text/html') return htmlToText(decodeBody(entity, charset));
  if (ct.type.startsWith('text/')) {
    // Old spam often sends MIME parts without declaring multipart, or HTML declared as plain text.
    const undeclared = !entity.headers.has('content-type') && depth < MAX_DEPTH;
    const boundary = undeclared ? UNDECLARED_PART.exec(entity.body)?.[1] : undefined;
    if (boundary) {
      const headers = new Map([['content-type', `multipart/mixed; boundary="${boundary}"`]]);
      return entityText({ headers, body: entity.body }, depth + 1);
    }
    const text = decodeBody(entity, charset);
    return looksLikeHtml(text) ? htmlToText(text) : text;
  }
  return '';
}

/** An e-mail's decoded subject and body text, each with whitespace runs collapsed to one space. */
export function emailSubjectAndBody(raw: string): { subject: string; body: string } {
  const entity = parseEntity(raw);
  const subject = decodeHeaderValue(entity.headers.get('subject') ?? '');
  return { subject: subject.replace(/\s+/gu, ' ').trim(), body: entityText(entity, 0).replace(/\s+/gu, ' ').trim() };
}
