// `sluice openapi`: prints the OpenAPI 3 document generated from the route schemas (the file
// docs/openapi.json is this output; a test fails when they drift apart).
import { buildApp, type AppContext } from '../api/app.js';
import { parseCommandLine } from './args.js';

/** The OpenAPI document of the REST API. Routes read their context only per request, so none is needed here. */
export async function openApiDocument(): Promise<Record<string, unknown>> {
  const ctx = new Proxy({ jwtSecret: 'openapi-generation-only', logger: false } as Partial<AppContext>, {
    get: (t, k) => (t as Record<string | symbol, unknown>)[k],
  }) as AppContext;
  const app = await buildApp(ctx);
  await app.ready();
  const doc = app.swagger() as unknown as Record<string, unknown>;
  await app.close();
  return doc;
}

export async function runOpenApi(argv: string[]): Promise<number> {
  if (parseCommandLine(argv, { help: { type: 'boolean', short: 'h' } }).values.help) {
    process.stdout.write('Usage: sluice openapi\n\nPrints the OpenAPI 3 document of the REST API (JSON) to standard output.\n');
    return 0;
  }
  process.stdout.write(`${JSON.stringify(await openApiDocument(), null, 2)}\n`);
  return 0;
}
