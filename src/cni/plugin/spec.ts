/**
 * What the CNI specification (1.1) fixes for a plugin executable: the versions Kuryr speaks, the
 * well-known error codes, and the typed error every check throws. The error is turned into the
 * spec's JSON once, in plugin.ts.
 */

/** Oldest first. 0.3.1 is what upstream kuryr-kubernetes spoke; 1.1.0 adds STATUS and GC. */
export const SUPPORTED_VERSIONS = ['0.3.1', '0.4.0', '1.0.0', '1.1.0'] as const;
export type CniVersion = (typeof SUPPORTED_VERSIONS)[number];
export const LATEST_VERSION: CniVersion = '1.1.0';

export const isSupportedVersion = (v: unknown): v is CniVersion => (SUPPORTED_VERSIONS as readonly unknown[]).includes(v);

/** a >= b for two supported versions (their list order is their version order). */
export const atLeast = (a: CniVersion, b: CniVersion): boolean => SUPPORTED_VERSIONS.indexOf(a) >= SUPPORTED_VERSIONS.indexOf(b);

/** The spec's well-known codes Kuryr answers with (0-99 reserved; 100+ would be Kuryr's own). */
export const CNI_CODE = {
  INCOMPATIBLE_VERSION: 1,
  UNSUPPORTED_FIELD: 2,
  INVALID_ENV: 4,
  IO_FAILURE: 5,
  DECODING_FAILURE: 6,
  INVALID_CONFIG: 7,
  TRY_AGAIN_LATER: 11,
  NOT_AVAILABLE: 50,
  INTERNAL: 999,
} as const;

export type CniCommandName = 'ADD' | 'DEL' | 'CHECK' | 'STATUS' | 'GC' | 'VERSION';
export const COMMANDS: readonly CniCommandName[] = ['ADD', 'DEL', 'CHECK', 'STATUS', 'GC', 'VERSION'];

/** A failure the runtime is told about: `{cniVersion, code, msg, details}` on stdout, exit 1. */
export class CniError extends Error {
  constructor(
    readonly code: number,
    message: string,
    readonly details?: string,
  ) {
    super(message);
    this.name = 'CniError';
  }
}

/** A value from the runtime for a message: a string quoted, anything else as JSON, cut short (never a whole config). */
export const quote = (value: unknown, max = 64): string => {
  const text = typeof value === 'string' ? value : (JSON.stringify(value) ?? String(value));
  const cut = text.length > max ? `${text.slice(0, max)}…` : text;
  return typeof value === 'string' ? JSON.stringify(cut) : cut;
};

export type JsonObject = Record<string, unknown>;
export const isObject = (v: unknown): v is JsonObject => typeof v === 'object' && v !== null && !Array.isArray(v);

/** A MAC address as Kuryr writes it (lower case). */
export const MAC_RE = /^[0-9a-f]{2}(:[0-9a-f]{2}){5}$/;
