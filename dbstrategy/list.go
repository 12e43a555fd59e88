package dbstrategy

// link is what an element of an intrusive list embeds.
type link[T any] struct {
	prev, next *T
	in         bool // in a list now
}

func (l *link[T]) links() *link[T] { return l }

// node is a pointer to an element that embeds a link.
type node[T any] interface {
	*T
	links() *link[T]
}

// list is an intrusive doubly linked list: O(1) push and remove with no
// allocation, used for the idle handles and the waiters.
type list[T any, P node[T]] struct {
	head, tail *T
	n          int
}

func (l *list[T, P]) pushBack(x P) {
	lk := x.links()
	lk.prev, lk.next, lk.in = l.tail, nil, true
	if l.tail != nil {
		P(l.tail).links().next = x
	} else {
		l.head = x
	}
	l.tail = x
	l.n++
}

// remove takes x out of the list; it does nothing if x is not in one.
func (l *list[T, P]) remove(x P) {
	lk := x.links()
	if !lk.in {
		return
	}
	if lk.prev != nil {
		P(lk.prev).links().next = lk.next
	} else {
		l.head = lk.next
	}
	if lk.next != nil {
		P(lk.next).links().prev = lk.prev
	} else {
		l.tail = lk.prev
	}
	lk.prev, lk.next, lk.in = nil, nil, false
	l.n--
}
