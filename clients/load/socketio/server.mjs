// The Socket.IO 4 reference for scripts/bench: a client joins a room (`join`, answered
// by `joined`), and every `msg` goes to the other sockets of its room. With REDIS_URL,
// the official Redis adapter links several processes into one cluster. WebSocket
// transport only (as Salon's clients), no compression, no client bundle.
import {Server} from 'socket.io';
import {createAdapter} from '@socket.io/redis-adapter';
import {createClient} from 'redis';

const port = Number(process.env.PORT || 9200);
const io = new Server({transports: ['websocket'], perMessageDeflate: false, serveClient: false});
if (process.env.REDIS_URL) {
  const pub = createClient({url: process.env.REDIS_URL});
  const sub = pub.duplicate();
  await Promise.all([pub.connect(), sub.connect()]);
  io.adapter(createAdapter(pub, sub, {key: process.env.REDIS_PREFIX || 'socket.io'}));
}
io.on('connection', (socket) => {
  socket.on('join', (room) => {
    socket.join(room);
    socket.emit('joined', room);
  });
  socket.on('msg', (m) => socket.to(m.room).emit('msg', m));
});
io.listen(port);
console.error(`socket.io reference listening on ${port}${process.env.REDIS_URL ? ' (redis adapter)' : ''}`);
