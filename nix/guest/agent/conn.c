/* The connection table and each connection's output queue: frames wait here, length-prefixed,
 * until the event loop writes them out. A frame for a peer that has gone (or been replaced by a
 * newer one) is refused, so no stream reaches a host that did not ask for it. */
#include "agent.h"
#include "conn.h"

conn_t conns[MAX_CONNS];

int add_conn(int fd, int kind) {
  for (int i = 0; i < MAX_CONNS; i++) {
    if (conns[i].fd >= 0) continue;
    conns[i].fd = fd;
    conns[i].kind = kind;
    conns[i].active = kind == C_STREAM;
    conns[i].gen++;
    conns[i].skip = 0;
    conns[i].in.len = conns[i].out.len = 0;
    return i;
  }
  return -1;
}

void queue_frame(conn_t *c, buf_t *body) {
  unsigned char hdr[4] = {(unsigned char)(body->len >> 24), (unsigned char)(body->len >> 16),
                          (unsigned char)(body->len >> 8), (unsigned char)body->len};
  buf_put(&c->out, hdr, 4);
  buf_put(&c->out, body->data, body->len);
}

int conn_send(origin_t to, buf_t *body) {
  if (to.conn < 0 || to.conn >= MAX_CONNS) return -1;
  conn_t *c = &conns[to.conn];
  if (c->fd < 0 || !c->active || c->gen != to.gen) return -1;
  queue_frame(c, body);
  return 0;
}

size_t conn_queued(origin_t to) {
  if (to.conn < 0 || to.conn >= MAX_CONNS) return 0;
  return conns[to.conn].out.len;
}
