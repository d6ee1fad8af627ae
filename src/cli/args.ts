// Small argument helpers shared by the sluice commands.

/** Parses HOST:PORT, [IPv6]:PORT or :PORT (empty host = all interfaces); null if malformed. */
export function parseHostPort(text: string, defaultHost = '0.0.0.0'): { host: string; port: number } | null {
  const m = /^(?:\[([^\]]+)\]|([^:]*)):(\d+)$/.exec(text);
  if (!m || Number(m[3]) > 65535) return null;
  return { host: m[1] ?? (m[2] || defaultHost), port: Number(m[3]) };
}
