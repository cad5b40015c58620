// Shared by the k6 probes the tests bundle (runs inside k6).

/** 'ok', or the thrown error's code (jose's ERR_*); a synchronous throw counts as an error too. */
export async function outcome(run: () => Promise<unknown>): Promise<string> {
  try {
    await run();
    return 'ok';
  } catch (e) {
    return (e as { code?: string }).code ?? String(e);
  }
}
