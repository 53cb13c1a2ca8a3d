/* The host connections the event loop serves, each with what it has read and what waits to be
 * written. Only the event loop (serve.c) reaches into a connection; the handlers queue frames
 * through conn_send and ask conn_queued (agent.h). */
#ifndef MVM_CONN_H
#define MVM_CONN_H

#include "agent.h"

#define MAX_CONNS 16

enum { C_SERIAL, C_STREAM };

typedef struct {
  int fd;
  int kind;
  int active;    /* stream: open; serial: a host is attached */
  unsigned gen;  /* changes whenever the peer changes, so deferred replies never reach a new peer */
  size_t skip;   /* bytes of an oversized frame still to discard */
  buf_t in, out;
} conn_t;

extern conn_t conns[MAX_CONNS];

int add_conn(int fd, int kind); /* the slot taken, -1 when all are in use */
void queue_frame(conn_t *c, buf_t *body); /* appends body with its 4-byte length */
#endif
