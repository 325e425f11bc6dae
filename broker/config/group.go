package config

import (
	"fmt"
	"strings"
)

// Values of a [[group]]'s new_keys: what a key made through the group
// becomes.
const (
	NewKeysRefuse    = "refuse"    // CKR_FUNCTION_NOT_SUPPORTED, logged
	NewKeysReplicate = "replicate" // copied to every member under the replication key
	NewKeysPin       = "pin"       // kept on its member; its sessions use that member
)

// DefaultReplayLimit bounds the multi-part input a group keeps per
// session to replay an operation on another member.
const DefaultReplayLimit = 1 << 20

// Group is one [[group]]: tokens that hold the same keys (on one HSM each),
// served to clients as one slot.
type Group struct {
	Name           string
	Slot           uint64
	Members        []string // [[token]] names, in file order: ties go to the first
	NewKeys        string
	ReplicationKey string // "label:..." (new_keys = "replicate")
	ReplayLimit    int    // bytes of multi-part input kept for replay
	Pin            *PinSource
	Line           int
}

type rawGroup struct {
	Name           *string   `toml:"name"`
	Slot           *int64    `toml:"slot"`
	Members        *[]string `toml:"members"`
	NewKeys        *string   `toml:"new_keys"`
	ReplicationKey *string   `toml:"replication_key"`
	ReplayLimit    *int64    `toml:"replay_limit"`
	Pin            *string   `toml:"pin"`
}

// takeSlot records that key serves slot, unless another key already does.
func (p *parser) takeSlot(slots map[uint64]string, slot uint64, key string) error {
	if first, dup := slots[slot]; dup {
		return p.errorf(key, "slot %d is already used by %s (line %d)", slot, strings.TrimSuffix(first, ".slot"), p.idx.lineOf(first))
	}
	slots[slot] = key
	return nil
}

// servesSlot: a [[token]] or a [[group]] is shown as slot.
func (c *Config) servesSlot(slot uint64) bool {
	for _, t := range c.Tokens {
		if !t.NoSlot && t.Slot == slot {
			return true
		}
	}
	for _, g := range c.Groups {
		if g.Slot == slot {
			return true
		}
	}
	return false
}

// Token returns the [[token]] called name, or nil.
func (c *Config) Token(name string) *Token {
	for i := range c.Tokens {
		if c.Tokens[i].Name == name {
			return &c.Tokens[i]
		}
	}
	return nil
}

func (p *parser) groups(raw *rawConfig, c *Config, slots map[uint64]string, tokens map[string]int, o ParseOptions) error {
	inGroup := map[string]bool{}
	names := map[string]int{}
	for i, rg := range raw.Group {
		k := func(s string) string { return fmt.Sprintf("group[%d].%s", i, s) }
		g := Group{NewKeys: NewKeysRefuse, ReplayLimit: DefaultReplayLimit, Line: p.idx.lineOf(fmt.Sprintf("group[%d]", i))}
		if rg.Name == nil {
			return p.errorf(k("name"), "required")
		}
		if !nameRE.MatchString(*rg.Name) {
			return p.errorf(k("name"), "%q: want letters, digits, '_', '.' or '-'", *rg.Name)
		}
		g.Name = *rg.Name
		if j, dup := names[g.Name]; dup {
			return p.errorf(k("name"), "duplicate name %q (first at line %d)", g.Name, p.idx.lineOf(fmt.Sprintf("group[%d].name", j)))
		}
		if _, dup := tokens[g.Name]; dup {
			return p.errorf(k("name"), "%q is already the name of a [[token]]", g.Name)
		}
		if c.Remote(g.Name) != nil {
			return p.errorf(k("name"), "%q is already the name of a [[remote]]", g.Name)
		}
		names[g.Name] = i
		if rg.Slot == nil {
			return p.errorf(k("slot"), "required")
		}
		if *rg.Slot < 0 || *rg.Slot > MaxSlot {
			return p.errorf(k("slot"), "%d: want 0 to %d", *rg.Slot, MaxSlot)
		}
		g.Slot = uint64(*rg.Slot)
		if err := p.takeSlot(slots, g.Slot, k("slot")); err != nil {
			return err
		}
		if rg.Members == nil || len(*rg.Members) == 0 {
			return p.errorf(k("members"), "required: the names of one or more [[token]]s that hold the same keys")
		}
		for _, m := range *rg.Members {
			if _, ok := tokens[m]; !ok && c.Remote(m) == nil {
				return p.errorf(k("members"), "%q: no [[token]] or [[remote]] has that name", m)
			}
			for _, seen := range g.Members {
				if seen == m {
					return p.errorf(k("members"), "%q is listed twice", m)
				}
			}
			g.Members = append(g.Members, m)
			inGroup[m] = true
		}
		if rg.NewKeys != nil {
			switch *rg.NewKeys {
			case NewKeysRefuse, NewKeysReplicate, NewKeysPin:
				g.NewKeys = *rg.NewKeys
			default:
				return p.errorf(k("new_keys"), "%q: want %q, %q or %q", *rg.NewKeys, NewKeysRefuse, NewKeysReplicate, NewKeysPin)
			}
		}
		if rg.ReplicationKey != nil {
			label, ok := strings.CutPrefix(*rg.ReplicationKey, "label:")
			if !ok || label == "" {
				return p.errorf(k("replication_key"), `%q: want "label:" and the label of an AES key every member holds`, *rg.ReplicationKey)
			}
			g.ReplicationKey = *rg.ReplicationKey
		}
		if g.NewKeys == NewKeysReplicate && g.ReplicationKey == "" {
			return p.errorf(k("replication_key"), `required with new_keys = "replicate"`)
		}
		if rg.ReplayLimit != nil {
			if *rg.ReplayLimit < 0 || *rg.ReplayLimit > 1<<30 {
				return p.errorf(k("replay_limit"), "%d: want 0 (no replay of multi-part operations) to %d bytes", *rg.ReplayLimit, 1<<30)
			}
			g.ReplayLimit = int(*rg.ReplayLimit)
		}
		if rg.Pin != nil {
			ps, err := parsePin(*rg.Pin, o)
			if err != nil {
				return p.errorf(k("pin"), "%v", err)
			}
			g.Pin = ps
		}
		c.Groups = append(c.Groups, g)
	}
	for i, r := range c.Remotes {
		if !inGroup[r.Name] {
			return p.errorf(fmt.Sprintf("remote[%d].name", i), "no [[group]] lists remote %q: a [[remote]] is only served as a group member", r.Name)
		}
	}
	for i, t := range c.Tokens {
		if t.NoSlot && !inGroup[t.Name] {
			return p.errorf(fmt.Sprintf("token[%d].slot", i), "required: token %q has no slot and no [[group]] lists it", t.Name)
		}
	}
	return nil
}
