/* SPDX-License-Identifier: MIT */
/*
 * Interval tree: a treap keyed by start with subtree_last augmentation.
 * See itree.h for the model.  Intervals are [start, last], last inclusive.
 * Priorities come from a private xorshift generator, so the shape does not
 * depend on insertion order and stays O(log n) deep in expectation.
 */
#include <stdio.h>

#include "engine/itree.h"

static uint32_t itree_rand(void)
{
	static __thread uint32_t x = 2463534242u;

	x ^= x << 13;
	x ^= x >> 17;
	x ^= x << 5;
	return x;
}

static inline uint64_t sub_last(const struct itree_node *n)
{
	return n ? n->subtree_last : 0;
}

static inline void augment(struct itree_node *n)
{
	uint64_t m = n->last;

	if (n->left && n->left->subtree_last > m)
		m = n->left->subtree_last;
	if (n->right && n->right->subtree_last > m)
		m = n->right->subtree_last;
	n->subtree_last = m;
}

static void augment_up(struct itree_node *n)
{
	/* No early stop: a shrunk child can lower any ancestor. */
	for (; n; n = n->parent)
		augment(n);
}

static void replace_child(struct itree *t, struct itree_node *parent,
			  struct itree_node *old, struct itree_node *new)
{
	if (!parent)
		t->root = new;
	else if (parent->left == old)
		parent->left = new;
	else
		parent->right = new;
	if (new)
		new->parent = parent;
}

/* Rotate @n's left child up into @n's place. */
static void rotate_right(struct itree *t, struct itree_node *n)
{
	struct itree_node *l = n->left;

	replace_child(t, n->parent, n, l);
	n->left = l->right;
	if (n->left)
		n->left->parent = n;
	l->right = n;
	n->parent = l;
	augment(n);
	augment(l);
}

static void rotate_left(struct itree *t, struct itree_node *n)
{
	struct itree_node *r = n->right;

	replace_child(t, n->parent, n, r);
	n->right = r->left;
	if (n->right)
		n->right->parent = n;
	r->left = n;
	n->parent = r;
	augment(n);
	augment(r);
}

void itree_insert(struct itree *t, struct itree_node *n)
{
	struct itree_node **link = &t->root, *parent = NULL;

	n->left = n->right = NULL;
	n->subtree_last = n->last;
	n->prio = itree_rand();
	while (*link) {
		parent = *link;
		if (parent->subtree_last < n->last)
			parent->subtree_last = n->last;
		link = n->start < parent->start ? &parent->left :
						  &parent->right;
	}
	*link = n;
	n->parent = parent;
	t->count++;

	while (n->parent && n->parent->prio < n->prio) {
		if (n->parent->left == n)
			rotate_right(t, n->parent);
		else
			rotate_left(t, n->parent);
	}
	augment_up(n->parent);
}

void itree_remove(struct itree *t, struct itree_node *n)
{
	struct itree_node *parent;

	/* Rotate n down until it has at most one child. */
	while (n->left && n->right) {
		if (n->left->prio > n->right->prio)
			rotate_right(t, n);
		else
			rotate_left(t, n);
	}
	parent = n->parent;
	replace_child(t, parent, n, n->left ? n->left : n->right);
	augment_up(parent);
	n->left = n->right = n->parent = NULL;
	t->count--;
}

/* Leftmost node of the subtree at @n intersecting [start, last]. */
static struct itree_node *subtree_search(struct itree_node *n, uint64_t start,
					 uint64_t last)
{
	/* Invariant: start <= n->subtree_last. */
	for (;;) {
		if (n->left && n->left->subtree_last >= start) {
			n = n->left;
			continue;
		}
		if (n->start > last)
			return NULL;
		if (n->last >= start)
			return n;
		n = n->right;
		if (!n || n->subtree_last < start)
			return NULL;
	}
}

struct itree_node *itree_iter_first(const struct itree *t, uint64_t start,
				    uint64_t last)
{
	if (!t->root || t->root->subtree_last < start)
		return NULL;
	return subtree_search(t->root, start, last);
}

struct itree_node *itree_iter_next(struct itree_node *n, uint64_t start,
				   uint64_t last)
{
	struct itree_node *r = n->right, *prev;

	for (;;) {
		if (r && r->subtree_last >= start)
			return subtree_search(r, start, last);
		/* Climb until we arrive from a left child. */
		do {
			prev = n;
			n = n->parent;
			if (!n)
				return NULL;
			r = n->right;
		} while (prev == r);
		if (n->start > last)
			return NULL;
		if (n->last >= start)
			return n;
	}
}

/*
 * Spans.  The next used point at or after @pos over all trees is the
 * smallest max(node->start, pos) among intersecting nodes; the leftmost
 * intersecting node of each tree gives it.
 */
static bool first_used(const struct itree_span *sp, uint64_t pos,
		       uint64_t *at)
{
	bool found = false;
	unsigned int i;

	for (i = 0; i != sp->ntrees; i++) {
		struct itree_node *n =
			itree_iter_first(sp->trees[i], pos, sp->last_index);
		uint64_t p;

		if (!n)
			continue;
		p = n->start > pos ? n->start : pos;
		if (!found || p < *at)
			*at = p;
		found = true;
	}
	return found;
}

/* Largest last of the nodes (any tree) containing point @p, if any. */
static bool covering_last(const struct itree_span *sp, uint64_t p,
			  uint64_t *last)
{
	bool found = false;
	unsigned int i;

	for (i = 0; i != sp->ntrees; i++) {
		struct itree_node *n;

		itree_for_each(n, sp->trees[i], p, p) {
			if (!found || n->last > *last)
				*last = n->last;
			found = true;
		}
	}
	return found;
}

static void span_from(struct itree_span *sp, uint64_t pos)
{
	uint64_t at = 0, end = 0;

	if (!first_used(sp, pos, &at)) {
		sp->start = pos;
		sp->last = sp->last_index;
		sp->is_used = false;
		return;
	}
	if (at > pos) {
		sp->start = pos;
		sp->last = at - 1;
		sp->is_used = false;
		return;
	}
	/* Used from pos: extend while the next point is covered. */
	covering_last(sp, pos, &end);
	while (end < sp->last_index) {
		uint64_t more;

		if (!covering_last(sp, end + 1, &more))
			break;
		end = more;
	}
	sp->start = pos;
	sp->last = end < sp->last_index ? end : sp->last_index;
	sp->is_used = true;
}

void itree_span_first(struct itree_span *sp, const struct itree *const *trees,
		      unsigned int ntrees, uint64_t start, uint64_t last)
{
	sp->trees = trees;
	sp->ntrees = ntrees;
	sp->last_index = last;
	sp->done = start > last;
	if (!sp->done)
		span_from(sp, start);
}

void itree_span_next(struct itree_span *sp)
{
	if (sp->last >= sp->last_index) {
		sp->done = true;
		return;
	}
	span_from(sp, sp->last + 1);
}

static int check_subtree(const struct itree_node *n, size_t *count,
			 const struct itree_node **prev)
{
	uint64_t m;

	if (!n)
		return 0;
	if (n->left && (n->left->parent != n || n->left->prio > n->prio))
		return -1;
	if (n->right && (n->right->parent != n || n->right->prio > n->prio))
		return -1;
	if (check_subtree(n->left, count, prev))
		return -1;
	if (n->start > n->last)
		return -1;
	if (*prev && (*prev)->start > n->start)
		return -1;
	*prev = n;
	(*count)++;
	if (check_subtree(n->right, count, prev))
		return -1;
	m = n->last;
	if (sub_last(n->left) > m)
		m = sub_last(n->left);
	if (sub_last(n->right) > m)
		m = sub_last(n->right);
	return m == n->subtree_last ? 0 : -1;
}

int itree_check(const struct itree *t)
{
	const struct itree_node *prev = NULL;
	size_t count = 0;

	if (t->root && t->root->parent)
		return -1;
	if (check_subtree(t->root, &count, &prev))
		return -1;
	return count == t->count ? 0 : -1;
}
