//go:build cgo

// Package backend implements wire.Backend over one vendor PKCS #11 module
// loaded into the broker's process. It is the only importer of
// github.com/miekg/pkcs11, and it fills miekg's gaps by calling the
// module's own function list (see cmod.go): C_GetAttributeValue with
// per-attribute results and nested templates, C_WaitForSlotEvent,
// C_GetFunctionStatus, C_CancelFunction, NULL PINs and empty inputs.
//
// Handles are the module's own; nothing is mapped here. Two-call outputs
// (C_Sign, C_Encrypt ...) come back whole: miekg makes both C calls.
//
// Concurrency: a Module may be used by many goroutines at once. Calls go
// straight to the module, which was initialized with CKF_OS_LOCKING_OK and
// does its own locking. If the module cannot lock (CKR_CANT_LOCK) or
// Options.Serialize is set, every call takes one mutex instead. Close
// waits for calls in progress, except a blocking C_WaitForSlotEvent, which
// C_Finalize wakes up.
package backend

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/miekg/pkcs11"
	"github.com/rs/zerolog"

	"github.com/gop11/gop11/wire"
)

// ErrLoad is wrapped by Open when the module file cannot be loaded.
var ErrLoad = errors.New("backend: cannot load PKCS #11 module")

// ErrClosed is returned by Close on a closed Module.
var ErrClosed = errors.New("backend: module closed")

// Options configures Open.
type Options struct {
	// Serialize makes every call take one mutex, for modules that are not
	// safe for concurrent use although they accept CKF_OS_LOCKING_OK.
	Serialize bool
	// Log receives the few lines the backend writes (load, locking mode,
	// close). It never sees a PIN or an attribute value.
	Log zerolog.Logger
	// InitArgs, if not empty, goes to the module's C_Initialize as
	// CK_C_INITIALIZE_ARGS.pReserved (NSS's softoken reads its database
	// there). Never logged: vendors put passwords in it.
	InitArgs string
}

// Module is one loaded and initialized vendor module.
type Module struct {
	path   string
	ctx    *pkcs11.Ctx
	c      *cmod
	log    zerolog.Logger
	serial bool

	life   sync.RWMutex // read: a call in progress; write: Close
	closed bool
	mu     sync.Mutex // taken by every call when serial
}

var _ wire.Backend = (*Module)(nil)

// Open loads the module at path and initializes it, asking for OS locking
// (and falling back to serialized calls without it on CKR_CANT_LOCK).
func Open(path string, opts Options) (*Module, error) {
	log := opts.Log.With().Str("library", path).Logger()
	c, err := openC(path)
	if err != nil {
		return nil, err
	}
	ctx := pkcs11.New(path)
	if ctx == nil {
		c.close()
		return nil, fmt.Errorf("%w: %s: miekg/pkcs11 could not load it", ErrLoad, path)
	}
	serial := opts.Serialize
	if opts.InitArgs != "" {
		c.keepReserved(opts.InitArgs)
	}
	err = ctx.Initialize(pkcs11.InitializeWithReserved(c.reservedArg())) // CKF_OS_LOCKING_OK
	if rv, ok := err.(pkcs11.Error); ok && rv == pkcs11.CKR_CANT_LOCK {
		log.Warn().Msg("module cannot use OS locking; serializing every call")
		serial = true
		err = ctx.Initialize(pkcs11.InitializeWithFlags(0), pkcs11.InitializeWithReserved(c.reservedArg()))
	}
	if err != nil {
		ctx.Destroy()
		c.close()
		return nil, fmt.Errorf("backend: %s: C_Initialize: %w", path, toErr(err))
	}
	log.Info().Bool("serialize", serial).Bool("init_args", opts.InitArgs != "").Bool("v3", c.fl3 != nil).Msg("PKCS #11 module initialized")
	return &Module{path: path, ctx: ctx, c: c, log: log, serial: serial}, nil
}

// Close finalizes and unloads the module. Calls made afterwards fail with
// CKR_CRYPTOKI_NOT_INITIALIZED.
func (m *Module) Close() error {
	m.life.Lock()
	defer m.life.Unlock()
	if m.closed {
		return ErrClosed
	}
	m.closed = true
	err := m.ctx.Finalize()
	m.ctx.Destroy()
	m.c.close()
	if err != nil {
		m.log.Warn().Err(toErr(err)).Msg("C_Finalize failed")
		return fmt.Errorf("backend: %s: C_Finalize: %w", m.path, toErr(err))
	}
	m.log.Info().Msg("PKCS #11 module finalized")
	return nil
}

// Serialized reports whether every call takes the module-wide mutex.
func (m *Module) Serialized() bool { return m.serial }

// enter starts a call; the returned func ends it.
func (m *Module) enter() (func(), error) {
	m.life.RLock()
	if m.closed {
		m.life.RUnlock()
		return nil, wire.CKR_CRYPTOKI_NOT_INITIALIZED
	}
	if m.serial {
		m.mu.Lock()
		return m.leaveSerial, nil
	}
	return m.life.RUnlock, nil
}

func (m *Module) leaveSerial() {
	m.mu.Unlock()
	m.life.RUnlock()
}

// toErr converts miekg's error: every pkcs11.Error becomes a wire.RV.
func toErr(err error) error {
	if err == nil {
		return nil
	}
	var e pkcs11.Error
	if errors.As(err, &e) {
		return wire.RV(e)
	}
	return err
}

// WaitForSlotEvent calls the module's C_WaitForSlotEvent itself: miekg's
// runs in a goroutine of its own and drops the rv.
// https://docs.oasis-open.org/pkcs11/pkcs11-base/v2.40/os/pkcs11-base-v2.40-os.html#_Toc416959757
//
// With CKF_DONT_BLOCK it answers at once (CKR_NO_EVENT if nothing
// happened). Blocking, it blocks on its own stream until an event or
// C_Finalize. A serialized module cannot be blocked in while other calls
// wait for the mutex, so then it polls with CKF_DONT_BLOCK until an event
// or ctx ends.
func (m *Module) WaitForSlotEvent(ctx context.Context, req *wire.WaitForSlotEventRequest) (*wire.WaitForSlotEventResponse, error) {
	if req.Flags&wire.CKF_DONT_BLOCK != 0 || !m.serial {
		m.life.RLock()
		if m.closed {
			m.life.RUnlock()
			return nil, wire.CKR_CRYPTOKI_NOT_INITIALIZED
		}
		c := m.c
		if req.Flags&wire.CKF_DONT_BLOCK == 0 {
			// Do not hold Close off: C_Finalize is what ends the wait.
			m.life.RUnlock()
		} else {
			defer m.life.RUnlock()
			if m.serial {
				m.mu.Lock()
				defer m.mu.Unlock()
			}
		}
		slot, err := c.waitForSlotEvent(req.Flags)
		if err != nil {
			return nil, err
		}
		return &wire.WaitForSlotEventResponse{Slot: slot}, nil
	}
	tick := time.NewTicker(250 * time.Millisecond)
	defer tick.Stop()
	for {
		r, err := m.WaitForSlotEvent(ctx, &wire.WaitForSlotEventRequest{Flags: req.Flags | wire.CKF_DONT_BLOCK})
		if err != wire.CKR_NO_EVENT {
			return r, err
		}
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-tick.C:
		}
	}
}
