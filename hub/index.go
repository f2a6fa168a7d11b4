package hub

// index finds the subscribers of an update without scanning them all:
// exact selectors by map, "*" in one set, and each distinct template
// selector evaluated once per update for all its subscribers. It is guarded
// by Hub.mu.
type index struct {
	exact     map[string]*subSet
	all       *subSet
	templates map[cacheKey]*templateGroup
}

type templateGroup struct {
	sel  *Selector
	subs *subSet
}

func newIndex() index {
	return index{
		exact:     make(map[string]*subSet),
		all:       newSubSet(),
		templates: make(map[cacheKey]*templateGroup),
	}
}

// subSet is a set of subscribers visited in the order they joined, but
// for the last one, which takes the place of each that leaves. The order
// matters over HTTP/2: the streams a client opens together on one
// connection are woken one after the other, so their frames reach the
// connection's writer together and share its TLS records and write
// calls, where a map's random order would spread them among every other
// connection's (about 30% more write calls, and their CPU, with 50
// streams per connection).
type subSet struct {
	list []*subscriber
	pos  map[*subscriber]int
}

func newSubSet() *subSet { return &subSet{pos: make(map[*subscriber]int)} }

func (ss *subSet) add(s *subscriber) {
	if _, ok := ss.pos[s]; ok {
		return
	}
	ss.pos[s] = len(ss.list)
	ss.list = append(ss.list, s)
}

func (ss *subSet) remove(s *subscriber) {
	i, ok := ss.pos[s]
	if !ok {
		return
	}
	delete(ss.pos, s)
	last := len(ss.list) - 1
	if i != last {
		ss.list[i] = ss.list[last]
		ss.pos[ss.list[i]] = i
	}
	ss.list[last] = nil
	ss.list = ss.list[:last]
}

func (ix *index) add(s *subscriber) {
	for _, sel := range s.topics {
		switch {
		case sel.raw == "*":
			ix.all.add(s)
		case sel.compiled():
			g := ix.templates[sel.key()]
			if g == nil {
				g = &templateGroup{sel: sel, subs: newSubSet()}
				ix.templates[sel.key()] = g
			}
			g.subs.add(s)
		default:
			m := ix.exact[sel.raw]
			if m == nil {
				m = newSubSet()
				ix.exact[sel.raw] = m
			}
			m.add(s)
		}
	}
}

func (ix *index) remove(s *subscriber) {
	for _, sel := range s.topics {
		switch {
		case sel.raw == "*":
			ix.all.remove(s)
		case sel.compiled():
			if g := ix.templates[sel.key()]; g != nil {
				g.subs.remove(s)
				if len(g.subs.list) == 0 {
					delete(ix.templates, sel.key())
				}
			}
		default:
			if m := ix.exact[sel.raw]; m != nil {
				m.remove(s)
				if len(m.list) == 0 {
					delete(ix.exact, sel.raw)
				}
			}
		}
	}
}

// each calls fn once for every subscriber with a selector matching one of
// topics, however many of its selectors match. seq identifies the update;
// each must be called from one goroutine at a time (the tail's).
func (ix *index) each(topics []string, seq uint64, fn func(*subscriber)) {
	mark := seq + 1
	visit := func(s *subscriber) {
		if s.mark == mark {
			return
		}
		s.mark = mark
		fn(s)
	}
	for _, t := range topics {
		if m := ix.exact[t]; m != nil {
			for _, s := range m.list {
				visit(s)
			}
		}
	}
	for _, s := range ix.all.list {
		visit(s)
	}
	for _, g := range ix.templates {
		if g.sel.MatchAny(topics) {
			for _, s := range g.subs.list {
				visit(s)
			}
		}
	}
}

// eachSubscriber calls fn once for every indexed subscriber.
func (ix *index) eachSubscriber(fn func(*subscriber)) {
	seen := make(map[*subscriber]struct{})
	visit := func(set *subSet) {
		for _, s := range set.list {
			if _, ok := seen[s]; !ok {
				seen[s] = struct{}{}
				fn(s)
			}
		}
	}
	for _, set := range ix.exact {
		visit(set)
	}
	visit(ix.all)
	for _, g := range ix.templates {
		visit(g.subs)
	}
}
