/**
 * jsdom's FormData is not Node's, so Node's Request would send it as the text "[object FormData]".
 * Tests swap in this Request (before the API client is created, see setup.ts), which keeps the FormData
 * as it was given so a fake server can read what the page posted.
 */
const NodeRequest = globalThis.Request;

export class TestRequest extends NodeRequest {
  readonly form: FormData | null;

  constructor(input: RequestInfo | URL, init?: RequestInit) {
    const form = init?.body instanceof FormData ? init.body : null;
    super(input, form ? { ...init, body: undefined } : init);
    this.form = form;
  }
}
