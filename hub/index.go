package hub

// index finds the subscribers of an update without scanning them all:
// exact selectors by map, "*" in one set, and each distinct template
// selector evaluated once per update for all its subscribers. It is guarded
// by Hub.mu.
type index struct {
	exact     map[string]map[*subscriber]struct{}
	all       map[*subscriber]struct{}
	templates map[cacheKey]*templateGroup
}

type templateGroup struct {
	sel  *Selector
	subs map[*subscriber]struct{}
}

func newIndex() index {
	return index{
		exact:     make(map[string]map[*subscriber]struct{}),
		all:       make(map[*subscriber]struct{}),
		templates: make(map[cacheKey]*templateGroup),
	}
}

func (ix *index) add(s *subscriber) {
	for _, sel := range s.topics {
		switch {
		case sel.raw == "*":
			ix.all[s] = struct{}{}
		case sel.compiled():
			g := ix.templates[sel.key()]
			if g == nil {
				g = &templateGroup{sel: sel, subs: make(map[*subscriber]struct{})}
				ix.templates[sel.key()] = g
			}
			g.subs[s] = struct{}{}
		default:
			m := ix.exact[sel.raw]
			if m == nil {
				m = make(map[*subscriber]struct{})
				ix.exact[sel.raw] = m
			}
			m[s] = struct{}{}
		}
	}
}

func (ix *index) remove(s *subscriber) {
	for _, sel := range s.topics {
		switch {
		case sel.raw == "*":
			delete(ix.all, s)
		case sel.compiled():
			if g := ix.templates[sel.key()]; g != nil {
				delete(g.subs, s)
				if len(g.subs) == 0 {
					delete(ix.templates, sel.key())
				}
			}
		default:
			if m := ix.exact[sel.raw]; m != nil {
				delete(m, s)
				if len(m) == 0 {
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
		for s := range ix.exact[t] {
			visit(s)
		}
	}
	for s := range ix.all {
		visit(s)
	}
	for _, g := range ix.templates {
		if g.sel.MatchAny(topics) {
			for s := range g.subs {
				visit(s)
			}
		}
	}
}

// eachSubscriber calls fn once for every indexed subscriber.
func (ix *index) eachSubscriber(fn func(*subscriber)) {
	seen := make(map[*subscriber]struct{})
	visit := func(set map[*subscriber]struct{}) {
		for s := range set {
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
