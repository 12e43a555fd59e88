package registry

import (
	"context"
	"errors"
	"log/slog"
	"sync"
	"time"
)

// watchPage is how many changes Watch reads per query.
const watchPage = 500

// watchBacklog is how far below the head of the log Watch starts looking
// for the changes of transactions still open when it starts.
const watchBacklog = 256

// Watch delivers the changes of s's log to fn, in the goroutine that called
// it, one at a time: the changes committed after Watch starts, by this
// process or any other sharing the Store, each once. It is the change feed
// that keeps a process's caches right when other processes change tenants:
// invalidate a [tenancy.Cache], close a deleted tenant's database handle,
// forget its tokens. fn must not block for long: the changes after it
// wait.
//
// Watch reads the log every [WithPollInterval]; when s is a [Notifier]
// (a [Memory], or [SQL] on PostgreSQL, where a change reaches other
// processes within milliseconds) it also reads it as soon as a change is
// announced, and after a lost notification connection it keeps polling and
// listens again at each interval. Changes are delivered in the order they
// are read, which follows Seq except around a transaction that committed
// after a later one: Watch waits [WithGapTimeout] for a skipped Seq to
// appear while delivering the changes after it. Errors reading the log are
// logged ([WithLogger]) and retried.
//
// Watch blocks until ctx is done, which is its only exit: it returns
// ctx.Err() once the goroutine it started for notifications has returned.
// It returns an error wrapping [ErrInvalidConfig] at once for a nil s or fn
// or a bad option.
func Watch(ctx context.Context, s Store, fn func(Change), opts ...WatchOption) error {
	if s == nil || fn == nil {
		return configErrorf("Watch: nil Store or function")
	}
	cfg := watchConfig{poll: DefaultPollInterval, gap: DefaultGapTimeout, logger: discard()}
	if err := configure("Watch", opts, func(o WatchOption) error { return o.applyWatch(&cfg) }); err != nil {
		return err
	}
	w := &watcher{s: s, fn: fn, cfg: cfg, seen: map[int64]time.Time{}}

	wake := make(chan struct{}, 1)
	var wg sync.WaitGroup
	defer wg.Wait()
	if n, ok := s.(Notifier); ok {
		wg.Go(func() { w.notify(ctx, n, wake) }) // exits when ctx is done
	}

	t := time.NewTicker(cfg.poll)
	defer t.Stop()
	for !w.started {
		if err := w.start(ctx); err != nil && ctx.Err() == nil {
			cfg.logger.LogAttrs(ctx, slog.LevelWarn, "registry: watch: read the head of the change log", slog.String("err", err.Error()))
		}
		if !w.started {
			select {
			case <-ctx.Done():
				return ctx.Err()
			case <-t.C:
			}
		}
	}
	for {
		if err := w.poll(ctx); err != nil && ctx.Err() == nil {
			cfg.logger.LogAttrs(ctx, slog.LevelWarn, "registry: watch: read the change log", slog.String("err", err.Error()))
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-t.C:
		case <-wake:
		}
	}
}

// watcher is the state of one Watch.
type watcher struct {
	s   Store
	fn  func(Change)
	cfg watchConfig

	started bool
	// cursor: every Seq up to it was delivered, or was in the log before
	// Watch started, or was given up on.
	cursor int64
	// seen: the Seqs above cursor delivered (or there at the start), with
	// when they were first read.
	seen map[int64]time.Time
}

// notify runs n.Notify until ctx is done, listening again after each
// failure once per poll interval.
func (w *watcher) notify(ctx context.Context, n Notifier, wake chan<- struct{}) {
	signal := func() {
		select {
		case wake <- struct{}{}:
		default:
		}
	}
	for {
		err := n.Notify(ctx, signal)
		if ctx.Err() != nil || errors.Is(err, errors.ErrUnsupported) {
			return
		}
		w.cfg.logger.LogAttrs(ctx, slog.LevelWarn, "registry: watch: notifications lost; polling", slog.String("err", err.Error()))
		select {
		case <-ctx.Done():
			return
		case <-time.After(w.cfg.poll):
		}
	}
}

// start places the cursor below the head of the log, and marks the changes
// already there as seen, so that only later ones are delivered, including
// those of transactions open at the start that commit with a lower Seq.
func (w *watcher) start(ctx context.Context) error {
	head, err := w.s.Head(ctx)
	if err != nil {
		return err
	}
	from := max(0, head-watchBacklog)
	now := time.Now()
	for after := from; after < head; {
		page, err := w.s.Changes(ctx, after, watchPage)
		if err != nil {
			return err
		}
		for _, c := range page {
			if c.Seq <= head {
				w.seen[c.Seq] = now
			}
		}
		if len(page) < watchPage {
			break
		}
		after = page[len(page)-1].Seq
	}
	w.cursor, w.started = from, true
	w.advance(now)
	return nil
}

// poll reads the log above the cursor, delivers what was not seen, and
// moves the cursor up.
func (w *watcher) poll(ctx context.Context) error {
	for after := w.cursor; ; {
		page, err := w.s.Changes(ctx, after, watchPage)
		if err != nil {
			return err
		}
		now := time.Now()
		for _, c := range page {
			if _, ok := w.seen[c.Seq]; !ok && c.Seq > w.cursor {
				w.seen[c.Seq] = now
				w.fn(c)
			}
		}
		if len(page) < watchPage {
			break
		}
		after = page[len(page)-1].Seq
	}
	w.advance(time.Now())
	return nil
}

// advance moves the cursor over the seen Seqs that follow it, and over a
// gap once the change after the gap was seen more than the gap timeout ago.
func (w *watcher) advance(now time.Time) {
	for len(w.seen) > 0 {
		if _, ok := w.seen[w.cursor+1]; ok {
			w.cursor++
			delete(w.seen, w.cursor)
			continue
		}
		next, at := int64(-1), time.Time{}
		for seq, t := range w.seen {
			if next < 0 || seq < next {
				next, at = seq, t
			}
		}
		if now.Sub(at) < w.cfg.gap {
			return
		}
		w.cursor = next - 1
	}
}
