#!/usr/bin/env node
// node delay-proxy.mjs <upstream host:port> <rtt ms>
//
// A TCP proxy on 127.0.0.1 (a free port, printed on stdout as host:port) in front of <upstream> that holds every
// chunk rtt/2 in each direction, in order: round trips cost what they cost across a network, bandwidth stays the
// loopback's. npm run bench -- --sync --rtt MS starts one per target registry, in its own process: the bench
// times its commands with synchronous spawns, which would stall a proxy in its own event loop.
import net from 'node:net';

const [upstream, rtt] = process.argv.slice(2);
const [upHost, upPort] = (upstream ?? '').split(':');
const half = Number(rtt) / 2;
if (!upHost || !Number(upPort) || !Number.isFinite(half) || half < 0) {
  console.error('usage: delay-proxy.mjs <upstream host:port> <rtt ms>');
  process.exit(2);
}
const later = (to) => (chunk) => setTimeout(() => to.destroyed || to.write(chunk), half);
// No Nagle (a held small write would wait for an ACK the delay holds back), and each side closes on its own.
const server = net.createServer({ allowHalfOpen: true, noDelay: true }, (client) => {
  const up = net.connect({ port: Number(upPort), host: upHost, allowHalfOpen: true, noDelay: true });
  client.on('data', later(up));
  up.on('data', later(client));
  client.on('end', () => setTimeout(() => up.end(), half));
  up.on('end', () => setTimeout(() => client.end(), half));
  client.on('error', () => up.destroy());
  up.on('error', () => client.destroy());
  client.on('close', () => setTimeout(() => up.destroy(), half + 1));
  up.on('close', () => setTimeout(() => client.destroy(), half + 1));
});
server.listen(0, '127.0.0.1', () => console.log(`127.0.0.1:${server.address().port}`));
process.on('SIGTERM', () => process.exit(0));
