/* When phase two runs (the delivery itself is queue.c's, a layer above,
 * called through the state's up_calls):
 *  - a host loop (watch_attach_loop): a uv_async_t wakes it from any thread;
 *    the callbacks run on the loop's thread, holding the GIL;
 *  - otherwise, a pending call on the interpreter that owns the state, run
 *    by whichever of its threads next checks the eval breaker; at most one
 *    is outstanding, since CPython's queue is small (31 calls on 3.12) and
 *    shared with everyone else's.  A debounce needs a timer that runs while
 *    Python does not, so it runs on a private loop in its own thread, which
 *    only queues the pending call;
 *  - in any interpreter, watch_flush().
 */
#include "internal.h"

#include <stdlib.h>

/* ---- the interpreter's pending call -------------------------------------- */

/* Queues func on interp's own pending calls, which any of its threads runs
 * at its next eval-breaker check (a loop's back edge, a call's return).
 * The public Py_AddPendingCall() reaches only the main thread of the main
 * interpreter: a subinterpreter's phase two never ran, and while the main
 * thread waited (join()), what a worker wrote piled up in the records of
 * phase one.  This one is private, declared in pycore_ceval.h (which needs
 * Py_BUILD_CORE), but exported by 3.12 to 3.15 alike (for
 * _testinternalcapi), so it is declared here.  Its last parameter is
 * mainthreadonly on 3.12 and flags on 3.13 and later: 0 means any thread
 * in both, and 1 the main thread (_Py_PENDING_MAINTHREADONLY).  It returns 0, or -1 without an exception when the queue is
 * full, and takes a lock of its own: any thread may call it, with or
 * without a thread state, as long as interp lives. */
PyAPI_FUNC(int) _PyEval_AddPendingCall(PyInterpreterState *interp,
                                       int (*func)(void *), void *arg,
                                       int flags);

/* A pending call cannot be cancelled and may outlive the state that asked
 * for it, so it looks the state up again.  It runs in the interpreter it
 * was queued on, whose state that is. */
static int
safe_point(void *unused)
{
  (void)unused;
  /* Cleared even if libwatch was finalized since: a later watch_init()
   * must be able to ask for a call again. */
  struct state *st = state_of_this_interpreter();
  if (st == NULL)
    return 0;
  atomic_store(&st->call_queued, 0);
  /* watch_flush(): nothing if libwatch was finalized since. */
  st->up->flush();
  return 0;
}

static void
schedule_safe_point(struct state *st)
{
  if (atomic_exchange(&st->call_queued, 1))
    return;
  /* The main interpreter's calls run on its main thread, as
   * Py_AddPendingCall()'s: from 3.13 on, CPython's finalization spins
   * while a call is queued and another thread handles the calls, so a
   * daemon thread delivering at exit would hang the process; and a worker
   * would run callbacks inside its own critical sections.  A
   * subinterpreter's run on any of its threads: it has no other way. */
  int main_thread_only = st->interp == PyInterpreterState_Main();
  if (_PyEval_AddPendingCall(st->interp, safe_point, NULL,
                             main_thread_only) < 0)
    atomic_store(&st->call_queued, 0);  /* full: the next wake retries */
}

/* ---- loops --------------------------------------------------------------- */

/* The handles libwatch keeps on a loop.  libuv frees nothing itself: the
 * memory lives until both handles' close callbacks have run. */
struct waker {
  uv_async_t wake;
  uv_timer_t quiet;          /* the debounce */
  struct state *st;
  _Atomic uint64_t debounce_ms;
  int is_private;
  int open_handles;
};

/* The batch is due: on a host loop, deliver it here, taking the GIL (the
 * host may be running the loop with or without it); on the private loop,
 * hand it to the interpreter's next safe point. */
static void
batch_due(struct waker *w)
{
  if (w->is_private) {
    schedule_safe_point(w->st);
    return;
  }
  PyGILState_STATE gil = PyGILState_Ensure();
  w->st->up->deliver(w->st);
  PyGILState_Release(gil);
}

static void
on_quiet(uv_timer_t *timer)
{
  batch_due(timer->data);
}

/* Each wake-up restarts the timer: the batch waits for a quiet period. */
static void
on_wake(uv_async_t *async)
{
  struct waker *w = async->data;
  uint64_t ms = atomic_load(&w->debounce_ms);
  if (ms > 0)
    uv_timer_start(&w->quiet, on_quiet, ms, 0);
  else
    batch_due(w);
}

static struct waker *
waker_new(struct state *st, uv_loop_t *loop, int is_private)
{
  struct waker *w = calloc(1, sizeof(*w));
  if (w == NULL)
    return NULL;
  if (uv_async_init(loop, &w->wake, on_wake) < 0) {
    free(w);
    return NULL;
  }
  uv_timer_init(loop, &w->quiet);
  /* A host's loop ends when its own work does; a running debounce timer
   * still holds it until the batch is delivered. */
  uv_unref((uv_handle_t *)&w->wake);
  w->wake.data = w->quiet.data = w;
  w->st = st;
  w->is_private = is_private;
  w->open_handles = 2;
  atomic_store(&w->debounce_ms, st->debounce_ms);
  return w;
}

static void
waker_closed(uv_handle_t *handle)
{
  struct waker *w = handle->data;
  if (--w->open_handles == 0)
    free(w);
}

/* On the loop's thread, or while the loop is not running. */
static void
waker_close(struct waker *w)
{
  uv_close((uv_handle_t *)&w->wake, waker_closed);
  uv_close((uv_handle_t *)&w->quiet, waker_closed);
}

/* The private loop runs on its own thread, only to time the debounce. */
struct private_loop {
  uv_loop_t loop;
  uv_async_t stop;
  uv_thread_t thread;
  struct waker *waker;
};

static void
on_stop(uv_async_t *stop)
{
  struct private_loop *p = stop->data;
  waker_close(p->waker);
  uv_close((uv_handle_t *)&p->stop, NULL);
}

static void
private_loop_run(void *arg)
{
  struct private_loop *p = arg;
  uv_run(&p->loop, UV_RUN_DEFAULT);
}

static int
private_loop_start(struct state *st)
{
  struct private_loop *p = calloc(1, sizeof(*p));
  if (p == NULL || uv_loop_init(&p->loop) < 0) {
    free(p);
    return WATCH_ENOMEM;
  }
  uv_async_init(&p->loop, &p->stop, on_stop);
  p->stop.data = p;
  p->waker = waker_new(st, &p->loop, 1);
  if (p->waker == NULL || uv_thread_create(&p->thread, private_loop_run, p) < 0) {
    if (p->waker)
      waker_close(p->waker);
    uv_close((uv_handle_t *)&p->stop, NULL);
    uv_run(&p->loop, UV_RUN_DEFAULT);
    uv_loop_close(&p->loop);
    free(p);
    return WATCH_ENOMEM;
  }
  st->private_loop = p;
  st->waker = p->waker;
  return 0;
}

static void
private_loop_stop(struct state *st)
{
  struct private_loop *p = st->private_loop;
  st->private_loop = NULL;
  st->waker = NULL;
  uv_async_send(&p->stop);
  uv_thread_join(&p->thread);
  uv_loop_close(&p->loop);
  free(p);
}

static void
loop_detach(struct state *st)
{
  if (st->private_loop != NULL)
    private_loop_stop(st);
  else if (st->waker != NULL)
    waker_close(st->waker);
  st->waker = NULL;
}

/* Without a host loop, only a debounce needs the private loop; everything
 * else goes straight to the pending call. */
static int
loop_choose(struct state *st, uv_loop_t *host)
{
  loop_detach(st);
  if (host != NULL) {
    st->waker = waker_new(st, host, 0);
    return st->waker ? 0 : WATCH_ENOMEM;
  }
  if (st->debounce_ms > 0)
    return private_loop_start(st);
  return 0;
}

void
queue_wake(struct state *st)
{
  if (st->waker != NULL)
    uv_async_send(&st->waker->wake);
  else
    schedule_safe_point(st);
}

void
queue_stop(struct state *st)
{
  loop_detach(st);
  st->host_loop = NULL;
  st->debounce_ms = 0;
}

int
waker_attach(struct state *st, uv_loop_t *loop)
{
  if (loop != NULL && !st->is_main)
    return WATCH_EINVAL;
  int rc = loop_choose(st, loop);
  st->host_loop = rc == 0 ? loop : NULL;
  if (st->pending != NULL)
    queue_wake(st);
  return rc;
}

int
waker_set_debounce(struct state *st, uint64_t ms)
{
  st->debounce_ms = ms;
  if (st->host_loop != NULL) {
    atomic_store(&st->waker->debounce_ms, ms);
    return 0;
  }
  return loop_choose(st, NULL);
}
