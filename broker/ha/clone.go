package ha

import (
	"reflect"

	"github.com/gop11/gop11/wire"
)

// clone deep-copies a request, so that an operation's calls can be kept
// for replay: a served request's byte strings may point into the frame it
// was read from, and its handles are rewritten for each member.
func clone(m wire.Message) wire.Message {
	return deepCopy(reflect.ValueOf(m)).Interface().(wire.Message)
}

func deepCopy(v reflect.Value) reflect.Value {
	switch v.Kind() {
	case reflect.Pointer:
		if v.IsNil() {
			return v
		}
		p := reflect.New(v.Type().Elem())
		p.Elem().Set(deepCopy(v.Elem()))
		return p
	case reflect.Interface:
		if v.IsNil() {
			return v
		}
		c := reflect.New(v.Type()).Elem()
		c.Set(deepCopy(v.Elem()))
		return c
	case reflect.Struct:
		c := reflect.New(v.Type()).Elem()
		for i := 0; i < v.NumField(); i++ {
			if c.Field(i).CanSet() {
				c.Field(i).Set(deepCopy(v.Field(i)))
			}
		}
		return c
	case reflect.Slice:
		if v.IsNil() {
			return v
		}
		c := reflect.MakeSlice(v.Type(), v.Len(), v.Len())
		if v.Type().Elem().Kind() == reflect.Uint8 {
			reflect.Copy(c, v)
			return c
		}
		for i := 0; i < v.Len(); i++ {
			c.Index(i).Set(deepCopy(v.Index(i)))
		}
		return c
	default:
		return v
	}
}

// zero wipes the PIN a kept request holds (a C_Login in an operation).
func zero(m wire.Message) {
	if l, ok := m.(*wire.LoginRequest); ok {
		clear(l.Pin)
	}
}
