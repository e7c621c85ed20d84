// The fanout peer: socket.io with @socket.io/redis-adapter, bound to 127.0.0.1:$PORT.
// Events: "join" (list of rooms, acked) and "msg" ({room, ...}: broadcast to the room, acked).
"use strict";
const http = require("http");
const { Server } = require("socket.io");
const { createAdapter } = require("@socket.io/redis-adapter");
const { createClient } = require("redis");

async function main() {
  const pub = createClient({ url: process.env.REDIS_URL });
  const sub = pub.duplicate();
  await Promise.all([pub.connect(), sub.connect()]);
  const httpServer = http.createServer();
  const io = new Server(httpServer, {
    transports: ["websocket"],
    serveClient: false,
    perMessageDeflate: false,
    maxHttpBufferSize: 1e6,
  });
  io.adapter(createAdapter(pub, sub));
  io.on("connection", (socket) => {
    socket.on("join", (rooms, ack) => {
      socket.join(rooms);
      if (typeof ack === "function") ack({ ok: true });
    });
    socket.on("msg", (data, ack) => {
      io.to(String(data.room)).emit("msg", data);
      if (typeof ack === "function") ack({ ok: true });
    });
  });
  httpServer.listen(Number(process.env.PORT), "127.0.0.1");
  const stop = () => { io.close(); pub.quit().catch(() => {}); sub.quit().catch(() => {}); process.exit(0); };
  process.on("SIGTERM", stop);
  process.on("SIGINT", stop);
}

main().catch((err) => { console.error(err); process.exit(1); });
