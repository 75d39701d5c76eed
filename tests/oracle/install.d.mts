export function cpuBinaryPackage(platform?: string, arch?: string): string;
export function ensureOracleInstalled(): void;
