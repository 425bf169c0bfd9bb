// Problem details (RFC 9457), as the server sends them as application/problem+json.
//
// Every failed call becomes a `ProblemError`. Answers that are not problem
// documents (a proxy's HTML 502, a network failure, a timeout, a success body
// that is not JSON) are normalised into the same shape, so callers handle one
// error type.

/** One field's error in a problem's `errors` (the server's `FieldError`). */
export interface ProblemFieldError {
  field: string;
  code: string;
  message: string;
  /** The message in both languages, where the server has one (validation rules). */
  messages?: { zh?: string; en?: string };
}

/** A problem document, normalised: `title`, `status` and `code` are always there. */
export interface Problem {
  type?: string;
  title: string;
  status: number;
  code: string;
  detail?: string;
  errors?: ProblemFieldError[];
}

/** Code used when the request never got an HTTP answer. */
export const NETWORK_ERROR = 'network_error';
/** Code used when the request was aborted by our own timeout. */
export const TIMEOUT = 'timeout';
/** Code used when a successful answer's body is not the JSON it should be. */
export const INVALID_RESPONSE = 'invalid_response';

export class ProblemError extends Error implements Problem {
  readonly type: string;
  readonly title: string;
  readonly status: number;
  readonly code: string;
  readonly detail?: string;
  readonly errors: ProblemFieldError[];

  constructor(problem: Problem) {
    super(problem.detail || problem.title || `HTTP ${problem.status}`);
    this.name = 'ProblemError';
    this.type = problem.type ?? 'about:blank';
    this.title = problem.title;
    this.status = problem.status;
    this.code = problem.code;
    this.detail = problem.detail;
    this.errors = problem.errors ?? [];
  }

  get isUnauthenticated(): boolean {
    return this.status === 401;
  }

  /** The text to show a person: the detail if any, else the title. */
  get displayMessage(): string {
    return this.detail || this.title || `HTTP ${this.status}`;
  }

  /** Builds a ProblemError from a non-2xx response, whatever its body is. */
  static async fromResponse(res: Response): Promise<ProblemError> {
    let body: unknown = undefined;
    const text = await res.text().catch(() => '');
    if (text) {
      try {
        body = JSON.parse(text);
      } catch {
        body = undefined;
      }
    }
    return new ProblemError(coerceProblem(body, res.status, res.statusText));
  }
}

/** Anything thrown, as a ProblemError (a bug in our code becomes `client_error`). */
export function toProblem(e: unknown): ProblemError {
  if (e instanceof ProblemError) return e;
  return new ProblemError({
    title: e instanceof Error ? e.message : String(e),
    status: 0,
    code: 'client_error',
  });
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function str(v: unknown): string | undefined {
  return typeof v === 'string' && v !== '' ? v : undefined;
}

/** Reads whatever the server sent and returns a well-formed Problem. */
export function coerceProblem(body: unknown, status: number, statusText = ''): Problem {
  const fallbackTitle = statusText || `HTTP ${status}`;
  if (!isObject(body)) {
    return { title: fallbackTitle, status, code: `http_${status}` };
  }
  const errors = Array.isArray(body.errors)
    ? body.errors.filter(isObject).map((e) => ({
        field: typeof e.field === 'string' ? e.field : '',
        code: typeof e.code === 'string' ? e.code : '',
        message: typeof e.message === 'string' ? e.message : '',
        ...(isObject(e.messages)
          ? { messages: { zh: str(e.messages.zh), en: str(e.messages.en) } }
          : {}),
      }))
    : undefined;
  return {
    type: str(body.type),
    title: str(body.title) ?? fallbackTitle,
    status: typeof body.status === 'number' ? body.status : status,
    code: str(body.code) ?? `http_${status}`,
    detail: str(body.detail),
    errors,
  };
}

/** Splits a problem field's name (`label.zh`, `/label/zh`) into a form-field path. */
export function fieldPath(field: string): string[] {
  return field
    .replace(/^\/+/, '')
    .split(/[./]/)
    .filter((p) => p !== '');
}
