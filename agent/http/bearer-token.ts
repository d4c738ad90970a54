import { createHash, timingSafeEqual } from 'node:crypto';

const digest = (text: string) => createHash('sha256').update(text, 'utf8').digest();

/**
 * Whether an Authorization header carries `Bearer <token>`. Compared in constant time over
 * SHA-256 digests: equal lengths whatever was sent, so neither the time taken nor an early
 * length check tells a caller how much of a guess was right.
 */
export function bearerTokenMatches(authorization: string | undefined, token: string): boolean {
  return timingSafeEqual(digest(authorization ?? ''), digest(`Bearer ${token}`));
}
