import { StringDecoder } from "node:string_decoder";
import { cutMarker, escapeChar, MAX_MESSAGE_LINE, sanitize } from "../../core/untrusted-text.js";

export { MAX_MESSAGE_LINE, sanitize };

// The output sanitiser. Text from a guest (health check names and output, agent errors, its console),
// a registry (error bodies, names) or a planner reaches a terminal only through here: every character a
// terminal would act on (C0 and C1 controls, DEL, escape sequences, bidirectional and invisible
// formatting marks) is shown escaped (ESC as \x1b), each line is cut at a bounded length, and known
// secrets are masked. A guest can therefore neither retitle the window, clear the screen, move the
// cursor to fake a line nor flood the terminal with one enormous line.

/** Longest console line `logs` prints before cutting the rest of that line. */
export const MAX_CONSOLE_LINE = 4096;

/**
 * Sanitises a stream of console output line by line: line breaks (LF or CRLF) and tabs are kept,
 * every other control character is escaped, and each line is cut at `maxLine` characters. Input may
 * arrive in chunks split anywhere (inside a UTF-8 sequence, between CR and LF).
 */
export class ConsoleSanitizer {
  private readonly decoder = new StringDecoder("utf8");
  private lineLength = 0;
  private dropped = 0;
  private pendingCr = false;

  constructor(private readonly maxLine: number = MAX_CONSOLE_LINE) {}

  /** The printable text for the next chunk of raw bytes. */
  push(chunk: Buffer): string {
    return this.feed(this.decoder.write(chunk));
  }

  /** What is still held back (an incomplete character, a trailing CR, a cut note): call once at the end. */
  end(): string {
    let out = this.feed(this.decoder.end());
    if (this.pendingCr) {
      this.pendingCr = false;
      out += this.add("\\r");
    }
    if (this.dropped > 0) out += cutMarker(this.dropped);
    this.dropped = 0;
    return out;
  }

  private add(escaped: string): string {
    if (this.dropped > 0 || this.lineLength + escaped.length > this.maxLine) {
      this.dropped += 1;
      return "";
    }
    this.lineLength += escaped.length;
    return escaped;
  }

  private newline(): string {
    const note = this.dropped > 0 ? cutMarker(this.dropped) : "";
    this.lineLength = 0;
    this.dropped = 0;
    return `${note}\n`;
  }

  private feed(text: string): string {
    let out = "";
    for (const ch of text) {
      if (this.pendingCr) {
        this.pendingCr = false;
        if (ch === "\n") {
          out += this.newline();
          continue;
        }
        out += this.add("\\r");
      }
      if (ch === "\r") this.pendingCr = true;
      else if (ch === "\n") out += this.newline();
      else out += this.add(escapeChar(ch, true));
    }
    return out;
  }
}

export interface ConsolePrinter {
  write: (raw: Buffer) => void;
  /** Flushes what the sanitiser still holds (call once, at the end). */
  end: () => void;
}

/** Prints console bytes to `stream`: as they are when `raw`, else through a ConsoleSanitizer. */
export function consolePrinter(stream: NodeJS.WritableStream, raw: boolean): ConsolePrinter {
  if (raw) return { write: (b) => void stream.write(b), end: () => {} };
  const s = new ConsoleSanitizer();
  const put = (text: string) => {
    if (text) stream.write(text);
  };
  return { write: (b) => put(s.push(b)), end: () => put(s.end()) };
}
