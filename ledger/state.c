/*
 * state.c: the ledger thread's in-memory state, and the snapshot table other threads read.
 *
 * DESIGN
 * The working state (registry, balances, reservations) belongs to the ledger thread alone
 * and mirrors the committed database plus the batch in flight. If a batch has to be
 * abandoned (the map filled up, the disk failed), the working state is simply reloaded
 * from the database, which costs O(pairs) and happens rarely, instead of undoing each
 * change.
 *
 * The snapshot table is separate, because it must only ever show committed values and
 * must never move under a reader. Its slots are inserted once (after the commit that
 * created the pair) and never removed, so a reader's probe needs no lock. Each slot's
 * values are guarded by a per-slot version, odd while the ledger writes them:
 *
 *   writer: version = v+1 (relaxed); values (release); version = v+2 (release)
 *   reader: v1 = version (acquire); values (acquire); v2 = version (relaxed);
 *           retry unless v1 == v2 and v1 is even
 *
 * If the reader sees any value of a write, its acquire pairs with that value's release,
 * so it also sees the odd version stored before it, and v2 != v1. If it sees the final
 * version (acquire, paired with the last release), it sees every value of that write.
 * The values are atomics only so that the race is defined; on x86 each access is a mov.
 */
#include "ledger_internal.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

uint64_t tl_hash_name(const char *name)
{
	uint64_t h = 1469598103934665603ull; /* FNV-1a */
	for (const unsigned char *p = (const unsigned char *)name; *p; p++)
		h = (h ^ *p) * 1099511628211ull;
	return h;
}

static uint64_t hash_u64(uint64_t x)
{
	/* The finaliser of MurmurHash3: pair keys and order ids are sequential-ish. */
	x ^= x >> 33;
	x *= 0xff51afd7ed558ccdull;
	x ^= x >> 33;
	x *= 0xc4ceb9fe1a85ec53ull;
	x ^= x >> 33;
	return x;
}

/* The smallest power of two >= 2n, so that open-addressing tables stay at most half full. */
static uint32_t table_size(uint32_t n)
{
	uint32_t size = 16;
	while (size < 2 * n)
		size <<= 1;
	return size;
}

int tl_state_init(tl_state_t *s, uint32_t max_assets, uint32_t max_accounts, uint32_t max_pairs,
                  uint32_t max_orders)
{
	memset(s, 0, sizeof(*s));
	if (!max_assets || !max_accounts || !max_pairs || !max_orders || max_pairs > (1u << 28) ||
	    max_orders > (1u << 28) || max_assets > (1u << 20) || max_accounts > (1u << 24))
		return -EINVAL;
	s->max_assets = max_assets;
	s->max_accounts = max_accounts;
	s->max_pairs = max_pairs;
	s->max_orders = max_orders;
	uint32_t asset_map = table_size(max_assets), account_map = table_size(max_accounts);
	uint32_t pairs = table_size(max_pairs), orders = table_size(max_orders);
	s->asset_map_mask = asset_map - 1;
	s->account_map_mask = account_map - 1;
	s->pairs_mask = pairs - 1;
	s->orders_mask = orders - 1;
	s->pub_mask = pairs - 1;
	s->assets = calloc(max_assets, sizeof(*s->assets));
	s->asset_map = calloc(asset_map, sizeof(*s->asset_map));
	s->accounts = calloc(max_accounts, sizeof(*s->accounts));
	s->account_map = calloc(account_map, sizeof(*s->account_map));
	s->pairs = calloc(pairs, sizeof(*s->pairs));
	s->orders = calloc(orders, sizeof(*s->orders));
	s->pub = aligned_alloc(64, (size_t)pairs * sizeof(*s->pub));
	s->pub_assets = calloc(max_assets, sizeof(*s->pub_assets));
	s->pub_accounts = calloc(max_accounts, sizeof(*s->pub_accounts));
	if (!s->assets || !s->asset_map || !s->accounts || !s->account_map || !s->pairs ||
	    !s->orders || !s->pub || !s->pub_assets || !s->pub_accounts) {
		tl_state_free(s);
		return -ENOMEM;
	}
	for (uint32_t i = 0; i < pairs; i++) {
		atomic_init(&s->pub[i].key, 0);
		atomic_init(&s->pub[i].version, 0);
		atomic_init(&s->pub[i].available, 0);
		atomic_init(&s->pub[i].locked, 0);
		atomic_init(&s->pub[i].last_seq, 0);
	}
	atomic_init(&s->pub_asset_count, 0);
	atomic_init(&s->pub_account_count, 0);
	atomic_init(&s->pub_last_seq, 0);
	return 0;
}

void tl_state_free(tl_state_t *s)
{
	free(s->assets);
	free(s->asset_map);
	free(s->accounts);
	free(s->account_map);
	free(s->pairs);
	free(s->orders);
	free(s->pub);
	free(s->pub_assets);
	free(s->pub_accounts);
	memset(s, 0, sizeof(*s));
}

void tl_state_clear(tl_state_t *s)
{
	memset(s->assets, 0, s->max_assets * sizeof(*s->assets));
	memset(s->asset_map, 0, (s->asset_map_mask + 1) * sizeof(*s->asset_map));
	memset(s->accounts, 0, s->max_accounts * sizeof(*s->accounts));
	memset(s->account_map, 0, (s->account_map_mask + 1) * sizeof(*s->account_map));
	memset(s->pairs, 0, (s->pairs_mask + 1) * sizeof(*s->pairs));
	memset(s->orders, 0, (s->orders_mask + 1) * sizeof(*s->orders));
	s->asset_count = s->account_count = s->pair_count = s->order_count = 0;
	s->last_seq = 0;
	memset(s->chain, 0, sizeof(s->chain));
}

/* ---- registry ---------------------------------------------------------------------- */

uint32_t tl_state_asset_find(const tl_state_t *s, const char *name)
{
	for (uint32_t i = (uint32_t)tl_hash_name(name) & s->asset_map_mask;;
	     i = (i + 1) & s->asset_map_mask) {
		uint32_t id = s->asset_map[i];
		if (id == 0 || strcmp(s->assets[id - 1].name, name) == 0)
			return id;
	}
}

uint32_t tl_state_account_find(const tl_state_t *s, const char *name)
{
	for (uint32_t i = (uint32_t)tl_hash_name(name) & s->account_map_mask;;
	     i = (i + 1) & s->account_map_mask) {
		uint32_t id = s->account_map[i];
		if (id == 0 || strcmp(s->accounts[id - 1].name, name) == 0)
			return id;
	}
}

uint32_t tl_state_asset_add(tl_state_t *s, const char *name, uint8_t decimals)
{
	if (s->asset_count == s->max_assets)
		return 0;
	uint32_t id = ++s->asset_count;
	snprintf(s->assets[id - 1].name, sizeof(s->assets[id - 1].name), "%s", name);
	s->assets[id - 1].decimals = decimals;
	uint32_t i = (uint32_t)tl_hash_name(name) & s->asset_map_mask;
	while (s->asset_map[i] != 0)
		i = (i + 1) & s->asset_map_mask;
	s->asset_map[i] = id;
	return id;
}

uint32_t tl_state_account_add(tl_state_t *s, const char *name)
{
	if (s->account_count == s->max_accounts)
		return 0;
	uint32_t id = ++s->account_count;
	snprintf(s->accounts[id - 1].name, sizeof(s->accounts[id - 1].name), "%s", name);
	uint32_t i = (uint32_t)tl_hash_name(name) & s->account_map_mask;
	while (s->account_map[i] != 0)
		i = (i + 1) & s->account_map_mask;
	s->account_map[i] = id;
	return id;
}

/* ---- balances ---------------------------------------------------------------------- */

static uint64_t pair_key(uint32_t account_id, uint32_t asset_id)
{
	return (uint64_t)account_id << 32 | asset_id;
}

tl_pair_t *tl_state_pair(tl_state_t *s, uint32_t account_id, uint32_t asset_id, bool create)
{
	uint64_t key = pair_key(account_id, asset_id);
	assert(key != 0);
	for (uint32_t i = (uint32_t)hash_u64(key) & s->pairs_mask;; i = (i + 1) & s->pairs_mask) {
		tl_pair_t *p = &s->pairs[i];
		if (p->key == key)
			return p;
		if (p->key != 0)
			continue;
		if (!create || s->pair_count == s->max_pairs)
			return NULL;
		s->pair_count++;
		memset(p, 0, sizeof(*p));
		p->key = key;
		p->pub = UINT32_MAX;
		return p;
	}
}

/* ---- reservations ------------------------------------------------------------------ */

tl_order_res_t *tl_state_order_find(tl_state_t *s, uint64_t order)
{
	assert(order != 0);
	for (uint32_t i = (uint32_t)hash_u64(order) & s->orders_mask;;
	     i = (i + 1) & s->orders_mask) {
		if (s->orders[i].order == order)
			return &s->orders[i];
		if (s->orders[i].order == 0)
			return NULL;
	}
}

bool tl_state_order_put(tl_state_t *s, const tl_order_res_t *r)
{
	assert(r->order != 0);
	uint32_t i = (uint32_t)hash_u64(r->order) & s->orders_mask;
	for (; s->orders[i].order != 0; i = (i + 1) & s->orders_mask)
		if (s->orders[i].order == r->order) {
			s->orders[i] = *r;
			return true;
		}
	if (s->order_count == s->max_orders)
		return false;
	s->orders[i] = *r;
	s->order_count++;
	return true;
}

void tl_state_order_del(tl_state_t *s, uint64_t order)
{
	tl_order_res_t *hole = tl_state_order_find(s, order);
	if (!hole)
		return;
	/* Backward-shift deletion: pull later members of the probe run into the hole so that
	 * lookups never need tombstones and the table never degrades. */
	uint32_t i = (uint32_t)(hole - s->orders);
	for (uint32_t j = (i + 1) & s->orders_mask; s->orders[j].order != 0;
	     j = (j + 1) & s->orders_mask) {
		uint32_t home = (uint32_t)hash_u64(s->orders[j].order) & s->orders_mask;
		/* j may move to i only if its home is not cyclically within (i, j]. */
		bool home_in_range = i <= j ? (home > i && home <= j) : (home > i || home <= j);
		if (home_in_range)
			continue;
		s->orders[i] = s->orders[j];
		i = j;
	}
	memset(&s->orders[i], 0, sizeof(s->orders[i]));
	s->order_count--;
}

/* ---- snapshots --------------------------------------------------------------------- */

void tl_state_publish_pair(tl_state_t *s, tl_pair_t *p, int64_t available, int64_t locked,
                           uint64_t last_seq)
{
	if (p->pub == UINT32_MAX) {
		uint32_t i = (uint32_t)hash_u64(p->key) & s->pub_mask;
		/* Only this thread inserts, so a relaxed probe sees every key. */
		while (atomic_load_explicit(&s->pub[i].key, memory_order_relaxed) != 0 &&
		       atomic_load_explicit(&s->pub[i].key, memory_order_relaxed) != p->key)
			i = (i + 1) & s->pub_mask;
		p->pub = i;
	}
	tl_pub_slot_t *slot = &s->pub[p->pub];
	uint64_t v = atomic_load_explicit(&slot->version, memory_order_relaxed);
	atomic_store_explicit(&slot->version, v + 1, memory_order_relaxed);
	/* Each release pairs with the reader's acquire of that value (see the top). */
	atomic_store_explicit(&slot->available, available, memory_order_release);
	atomic_store_explicit(&slot->locked, locked, memory_order_release);
	atomic_store_explicit(&slot->last_seq, last_seq, memory_order_release);
	atomic_store_explicit(&slot->version, v + 2, memory_order_release);
	/* Publishing the key last makes a new slot visible with its values already set;
	 * pairs with the acquire in tl_ledger_balance_read's probe. */
	if (atomic_load_explicit(&slot->key, memory_order_relaxed) == 0)
		atomic_store_explicit(&slot->key, p->key, memory_order_release);
}

void tl_state_publish_registry(tl_state_t *s, uint32_t asset_count, uint32_t account_count)
{
	uint32_t n = atomic_load_explicit(&s->pub_asset_count, memory_order_relaxed);
	for (; n < asset_count; n++) {
		memcpy(s->pub_assets[n].name, s->assets[n].name, sizeof(s->assets[n].name));
		s->pub_assets[n].decimals = s->assets[n].decimals;
	}
	/* Pairs with the acquire in tl_ledger_asset_find: the names above are visible. */
	atomic_store_explicit(&s->pub_asset_count, n, memory_order_release);
	n = atomic_load_explicit(&s->pub_account_count, memory_order_relaxed);
	for (; n < account_count; n++)
		memcpy(s->pub_accounts[n].name, s->accounts[n].name, sizeof(s->accounts[n].name));
	atomic_store_explicit(&s->pub_account_count, n, memory_order_release);
}

int tl_ledger_balance_read(const tl_ledger_t *l, uint32_t account_id, uint32_t asset_id,
                           tl_ledger_balance_t *out)
{
	const tl_state_t *s = &l->state;
	uint64_t key = pair_key(account_id, asset_id);
	if (key == 0 || account_id == 0 || asset_id == 0)
		return -ENOENT;
	uint32_t i = (uint32_t)hash_u64(key) & s->pub_mask;
	for (;; i = (i + 1) & s->pub_mask) {
		/* Pairs with the release of the key in tl_state_publish_pair. */
		uint64_t k = atomic_load_explicit(&s->pub[i].key, memory_order_acquire);
		if (k == 0)
			return -ENOENT;
		if (k == key)
			break;
	}
	tl_pub_slot_t *slot = &s->pub[i];
	for (;;) {
		uint64_t v1 = atomic_load_explicit(&slot->version, memory_order_acquire);
		out->available = atomic_load_explicit(&slot->available, memory_order_acquire);
		out->locked = atomic_load_explicit(&slot->locked, memory_order_acquire);
		out->last_seq = atomic_load_explicit(&slot->last_seq, memory_order_acquire);
		uint64_t v2 = atomic_load_explicit(&slot->version, memory_order_relaxed);
		if (v1 == v2 && (v1 & 1u) == 0)
			break;
		tl_cpu_relax();
	}
	out->account_id = account_id;
	out->asset_id = asset_id;
	return 0;
}

int tl_ledger_asset_find(const tl_ledger_t *l, const char *name, uint32_t *id, uint8_t *decimals)
{
	const tl_state_t *s = &l->state;
	uint32_t n = atomic_load_explicit(&s->pub_asset_count, memory_order_acquire);
	for (uint32_t i = 0; i < n; i++)
		if (strcmp(s->pub_assets[i].name, name) == 0) {
			if (id)
				*id = i + 1;
			if (decimals)
				*decimals = s->pub_assets[i].decimals;
			return 0;
		}
	return -ENOENT;
}

int tl_ledger_account_find(const tl_ledger_t *l, const char *name, uint32_t *id)
{
	const tl_state_t *s = &l->state;
	uint32_t n = atomic_load_explicit(&s->pub_account_count, memory_order_acquire);
	for (uint32_t i = 0; i < n; i++)
		if (strcmp(s->pub_accounts[i].name, name) == 0) {
			if (id)
				*id = i + 1;
			return 0;
		}
	return -ENOENT;
}

uint64_t tl_ledger_last_seq(const tl_ledger_t *l)
{
	return atomic_load_explicit(&l->state.pub_last_seq, memory_order_acquire);
}

const tl_pub_name_t *tl_state_pub_asset(const tl_state_t *s, uint32_t id)
{
	uint32_t n = atomic_load_explicit(&s->pub_asset_count, memory_order_acquire);
	return id && id <= n ? &s->pub_assets[id - 1] : NULL;
}

const tl_pub_name_t *tl_state_pub_account(const tl_state_t *s, uint32_t id)
{
	uint32_t n = atomic_load_explicit(&s->pub_account_count, memory_order_acquire);
	return id && id <= n ? &s->pub_accounts[id - 1] : NULL;
}
