// Result-row readers shared by both dialects: the servers return numbers as strings or
// numbers and flags as 0/1, 'ON'/'OFF' or 'Yes'/'No' depending on the statement.

export function asString(value: unknown): string {
  return value === null || value === undefined ? '' : String(value);
}

export function asBoolean(value: unknown): boolean {
  return value === 1 || value === '1' || value === 'ON' || value === 'Yes' || value === true || value === 1n;
}

export function asNumberOrNull(value: unknown): number | null {
  return value === null || value === undefined || value === '' ? null : Number(value);
}
