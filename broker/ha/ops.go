package ha

import (
	"context"
	"errors"

	"github.com/gop11/gop11/wire"
)

// opCall runs a call of an operation at step. A session's operations
// stay on one member; when it fails, their calls so far are replayed on
// another member, then this one.
func (c *Conn) opCall(ctx context.Context, s *session, d *wire.CallDesc, req wire.Message, step wire.OpStep) (wire.Message, error) {
	if step != wire.OpInit && s.op < 0 {
		// No operation under way: the module answers for that.
		resp, _, err := c.anywhere(ctx, s, d, req)
		return resp, err
	}
	var kept wire.Message
	if step != wire.OpEnd && !s.ops.Over {
		kept = wire.Clone(req)
	}
	tried := make([]bool, len(c.links))
	i := s.op
	var last error
	restarted := false
	for {
		if i < 0 || tried[i] {
			if s.op >= 0 && s.ops.Over {
				c.log.Error().Str("call", d.Name).Int("replay_limit", c.g.cfg.ReplayLimit).
					Msg("the member running this operation failed, and its input is past replay_limit: CKR_DEVICE_ERROR")
				c.endOps(s)
				return nil, wire.CKR_DEVICE_ERROR
			}
			if i = c.g.pick(c.allowedOp(s, req), tried); i < 0 {
				c.endOps(s)
				return nil, c.noMember(d, last)
			}
			if s.op >= 0 && s.op != i {
				if err := c.replay(ctx, s, i); err != nil {
					if c.retry(i, err) {
						tried[i], last = true, err
						continue
					}
					c.log.Error().Str("call", d.Name).Str("member", c.g.members[i].name).Err(err).
						Msg("replaying the operation on another member failed: CKR_DEVICE_ERROR")
					c.endOps(s)
					return nil, wire.CKR_DEVICE_ERROR
				}
				c.log.Info().Str("call", d.Name).Str("from", c.g.members[s.op].name).Str("to", c.g.members[i].name).
					Int("calls_replayed", len(s.ops.Calls)).Msg("operation moved to another group member")
				s.op = i
			}
		}
		resp, err := c.on(ctx, s, i, d.ID, req)
		if errors.Is(err, ErrStale) && !restarted && !(s.op == i && s.ops.Over) {
			// The member restarted: its handles are opened again, and the
			// operation's calls so far replayed there, before this one.
			restarted = true
			var rerr error
			if s.op == i {
				rerr = c.replay(ctx, s, i)
			}
			if rerr == nil {
				continue
			}
			err = rerr
		}
		if c.retry(i, err) {
			tried[i], last = true, err
			continue
		}
		c.after(s, d, i, step, kept, err)
		return resp, err
	}
}

// after records what an answered call did to the session's operations.
func (c *Conn) after(s *session, d *wire.CallDesc, i int, step wire.OpStep, kept wire.Message, err error) {
	over := s.ops.Over
	if !s.ops.Record(d.ID, step, kept, err == nil) && kept != nil {
		zero(kept)
	}
	if s.ops.Over && !over {
		c.log.Debug().Int("replay_limit", c.g.cfg.ReplayLimit).Msg("operation input past replay_limit: it can no longer move to another member")
	}
	switch {
	case !s.ops.Active():
		s.op = -1
	case step == wire.OpInit && err == nil:
		s.op = i
	}
}

// replay runs the session's kept calls on member i.
func (c *Conn) replay(ctx context.Context, s *session, i int) error {
	for _, k := range s.ops.Calls {
		if _, err := c.on(ctx, s, i, k.ID, k.Req); err != nil {
			return err
		}
	}
	return nil
}

// endOps forgets the session's operations and their kept calls.
func (c *Conn) endOps(s *session) {
	s.ops.Reset()
	s.op = -1
}

// allowedOp: the members that may hold every object of the session's
// operations and of req.
func (c *Conn) allowedOp(s *session, req wire.Message) func(int) bool {
	fs := []func(int) bool{c.allowed(req)}
	for _, k := range s.ops.Calls {
		fs = append(fs, c.allowed(k.Req))
	}
	return func(i int) bool {
		for _, f := range fs {
			if f != nil && !f(i) {
				return false
			}
		}
		return true
	}
}

// zero wipes the PIN a kept request holds (a C_Login in an operation).
func zero(m wire.Message) {
	if l, ok := m.(*wire.LoginRequest); ok {
		clear(l.Pin)
	}
}
