import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import { syncBuiltinESMExports } from 'node:module';
import { mock, test } from 'node:test';
import { bearerTokenMatches } from '../../agent/http/bearer-token.ts';

const TOKEN = 'kTq3-switchover-token';

test('the bearer token: exactly "Bearer <token>" passes; anything else, however close, is refused', () => {
  assert.equal(bearerTokenMatches(`Bearer ${TOKEN}`, TOKEN), true);
  for (const sent of [
    undefined,
    '',
    'Bearer ',
    `Bearer ${TOKEN.slice(0, -1)}`,
    `Bearer ${TOKEN}x`,
    `bearer ${TOKEN}`,
    TOKEN,
    `Basic ${TOKEN}`,
    'x'.repeat(1_000_000),
  ]) {
    assert.equal(bearerTokenMatches(sent, TOKEN), false, `accepted ${JSON.stringify(sent?.slice(0, 40))}`);
  }
});

test('the bearer token is compared in constant time: crypto.timingSafeEqual over two digests of one length, whatever was sent', () => {
  const compare = mock.method(crypto, 'timingSafeEqual');
  syncBuiltinESMExports();
  try {
    for (const sent of [`Bearer ${TOKEN}`, 'Bearer k', 'x'.repeat(100_000), undefined]) bearerTokenMatches(sent, TOKEN);
    assert.equal(compare.mock.callCount(), 4, 'not every comparison went through timingSafeEqual');
    for (const call of compare.mock.calls) {
      const [sentDigest, expectedDigest] = call.arguments as [Buffer, Buffer];
      assert.equal(sentDigest.length, 32);
      assert.equal(expectedDigest.length, 32);
    }
  } finally {
    compare.mock.restore();
    syncBuiltinESMExports();
  }
});
