'use strict';
/*
 * test-sigv4.js — checks the front end's SigV4 verifier against the four
 * worked examples of the AWS S3 documentation ("Signature Calculations for
 * the Authorization Header: Transferring Payload in a Single Chunk"):
 * GET object with a Range header, PUT object, GET bucket lifecycle and GET
 * bucket (list objects). Each example must verify with the documented
 * signature and be refused once anything signed is changed. Exit status 0
 * when every check passes.
 */
const assert = require('assert');
const crypto = require('crypto');
const { verify, canonicalQuery, canonicalUri, uriEncode, EMPTY_SHA256 } = require('./sigv4');

const AK = 'AKIAIOSFODNN7EXAMPLE';
const SK = 'wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY';
const keys = new Map([[AK, SK]]);
const NOW = Date.UTC(2013, 4, 24, 0, 0, 0);
const HOST = 'examplebucket.s3.amazonaws.com';

function authz(signed, sig) {
  return `AWS4-HMAC-SHA256 Credential=${AK}/20130524/us-east-1/s3/aws4_request,SignedHeaders=${signed},Signature=${sig}`;
}

const examples = [
  {
    name: 'GET object (Range)',
    method: 'GET', path: '/test.txt', query: '',
    headers: { host: HOST, range: 'bytes=0-9', 'x-amz-content-sha256': EMPTY_SHA256, 'x-amz-date': '20130524T000000Z' },
    signed: 'host;range;x-amz-content-sha256;x-amz-date',
    sig: 'f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb41',
  },
  {
    name: 'PUT object',
    method: 'PUT', path: '/test$file.text', query: '',
    body: Buffer.from('Welcome to Amazon S3.'),
    headers: {
      host: HOST, date: 'Fri, 24 May 2013 00:00:00 GMT', 'x-amz-date': '20130524T000000Z',
      'x-amz-storage-class': 'REDUCED_REDUNDANCY',
      'x-amz-content-sha256': '44ce7dd67c959e0d3524ffac1771dfbba87d2b6b4b4e99e42034a8b803f8b072',
    },
    signed: 'date;host;x-amz-content-sha256;x-amz-date;x-amz-storage-class',
    sig: '98ad721746da40c64f1a55b78f14c238d841ea1380cd77a1b5971af0ece108bd',
  },
  {
    name: 'GET bucket lifecycle',
    method: 'GET', path: '/', query: 'lifecycle',
    headers: { host: HOST, 'x-amz-content-sha256': EMPTY_SHA256, 'x-amz-date': '20130524T000000Z' },
    signed: 'host;x-amz-content-sha256;x-amz-date',
    sig: 'fea454ca298b7da1c68078a5d1bdbfbbe0d65c699e0f91ac7a200a0136783543',
  },
  {
    name: 'GET bucket (list objects)',
    method: 'GET', path: '/', query: 'max-keys=2&prefix=J',
    headers: { host: HOST, 'x-amz-content-sha256': EMPTY_SHA256, 'x-amz-date': '20130524T000000Z' },
    signed: 'host;x-amz-content-sha256;x-amz-date',
    sig: '34b48302e7b5fa45bde8084f4b7868a86f0a534bc59db6670ed5711ef69dc6f7',
  },
];

let checks = 0;
function expectCode(req, code) {
  assert.throws(() => verify(req, keys, { now: NOW }), e => e.code === code,
    `expected ${code}`);
  checks++;
}

for (const ex of examples) {
  const req = {
    method: ex.method, path: ex.path, query: ex.query, body: ex.body || Buffer.alloc(0),
    headers: { ...ex.headers, authorization: authz(ex.signed, ex.sig) },
  };
  assert.strictEqual(verify(req, keys, { now: NOW }), AK, ex.name);
  checks++;
  // A different secret, path, query, signed header value or signature fails.
  assert.throws(() => verify(req, new Map([[AK, SK + 'x']]), { now: NOW }), e => e.code === 'SignatureDoesNotMatch');
  checks++;
  expectCode({ ...req, path: ex.path + 'x' }, 'SignatureDoesNotMatch');
  expectCode({ ...req, query: ex.query ? ex.query + 'x' : 'x=1' }, 'SignatureDoesNotMatch');
  expectCode({ ...req, headers: { ...req.headers, host: 'other.' + HOST } }, 'SignatureDoesNotMatch');
  expectCode({ ...req, headers: { ...req.headers, authorization: authz(ex.signed, ex.sig.replace(/^./, c => (c === '0' ? '1' : '0'))) } },
    'SignatureDoesNotMatch');
  expectCode({ ...req, headers: { ...req.headers, authorization: authz(ex.signed, ex.sig).replace(AK, 'AKIDUNKNOWN') } },
    'InvalidAccessKeyId');
  expectCode({ ...req, headers: { ...req.headers, authorization: authz(ex.signed, ex.sig).replace('us-east-1', 'eu-west-1') } },
    'AuthorizationHeaderMalformed');
  const noAuth = { ...req, headers: { ...req.headers } };
  delete noAuth.headers.authorization;
  expectCode(noAuth, 'AccessDenied');
  const noHash = { ...req, headers: { ...req.headers } };
  delete noHash.headers['x-amz-content-sha256'];
  expectCode(noHash, 'InvalidRequest');
  // A year later the same request is refused as skewed.
  assert.throws(() => verify(req, keys, { now: NOW + 365 * 864e5 }), e => e.code === 'RequestTimeTooSkewed');
  checks++;
}

// The PUT body is bound to its hash.
{
  const ex = examples[1];
  const req = {
    method: ex.method, path: ex.path, query: ex.query, body: Buffer.from('Welcome to Amazon S3!'),
    headers: { ...ex.headers, authorization: authz(ex.signed, ex.sig) },
  };
  expectCode(req, 'XAmzContentSHA256Mismatch');
}

// The same request, however its path and query were encoded on the wire.
{
  const ex = examples[1];
  const req = {
    method: 'PUT', path: '/test%24file.text', query: '', body: Buffer.from('Welcome to Amazon S3.'),
    headers: { ...ex.headers, authorization: authz(ex.signed, ex.sig) },
  };
  assert.strictEqual(verify(req, keys, { now: NOW }), AK); checks++;
  const ex3 = examples[3];
  for (const q of ['prefix=J&max-keys=2', 'max-keys=2&prefix=%4A', 'prefix=%4a&max-keys=%32']) {
    const r = { method: 'GET', path: '/', query: q, headers: { ...ex3.headers, authorization: authz(ex3.signed, ex3.sig) } };
    assert.strictEqual(verify(r, keys, { now: NOW }), AK, q); checks++;
  }
}

// Encoding rules.
assert.strictEqual(uriEncode('a b+c%d~e/f', true), 'a%20b%2Bc%25d~e/f'); checks++;
assert.strictEqual(uriEncode('a/b', false), 'a%2Fb'); checks++;
assert.strictEqual(uriEncode('ключ', true), '%D0%BA%D0%BB%D1%8E%D1%87'); checks++;
assert.strictEqual(canonicalQuery('prefix=a%2Fb&list-type=2&continuation-token='), 'continuation-token=&list-type=2&prefix=a%2Fb'); checks++;
assert.strictEqual(canonicalQuery('b=2&a=1&a=0'), 'a=0&a=1&b=2'); checks++;
assert.strictEqual(canonicalUri('/bucket/a%20b/%E2%82%AC'), '/bucket/a%20b/%E2%82%AC'); checks++;
assert.strictEqual(canonicalUri('/'), '/'); checks++;

// Sanity: the hash of the example body is what the documentation states.
assert.strictEqual(crypto.createHash('sha256').update('Welcome to Amazon S3.').digest('hex'),
  '44ce7dd67c959e0d3524ffac1771dfbba87d2b6b4b4e99e42034a8b803f8b072'); checks++;

console.log(`sigv4 verifier: ${checks} checks passed against the AWS documentation examples`);
