// Answer cache keyed by the option-82 identity query, with a TTL per entry.
#ifndef REMOTE_OPTIONS_CACHE_H
#define REMOTE_OPTIONS_CACHE_H

#include "decision.h"

#include <functional>
#include <list>
#include <mutex>
#include <string>
#include <unordered_map>

namespace isc {
namespace remote_options {

class Cache {
public:
    /// max_entries: total bound (0 disables the cache).
    explicit Cache(size_t max_entries);

    /// The live entry for key (now the shard's most recently used), or null.
    DecisionPtr get(const std::string& key, Clock::time_point now);

    /// Stores (replaces) an entry valid for ttl_ms. A full shard evicts its least recently used
    /// entry (O(1), expired or not): a new entry is always stored. ttl_ms <= 0 stores nothing.
    void put(const std::string& key, const DecisionPtr& value, long ttl_ms, Clock::time_point now);

    /// Removes entries whose key satisfies pred; returns how many.
    size_t flush(const std::function<bool(const std::string&)>& pred);

    /// Removes everything; returns how many.
    size_t flushAll();

    size_t size();

private:
    static const size_t SHARDS = 16;
    struct Entry {
        DecisionPtr value;
        Clock::time_point expires;
        std::list<const std::string*>::iterator pos;   ///< in Shard::order
    };
    struct Shard {
        std::mutex mutex;
        std::unordered_map<std::string, Entry> map;
        /// The map's own keys (node addresses are stable), least recently used first.
        std::list<const std::string*> order;
        void erase(std::unordered_map<std::string, Entry>::iterator it) {
            order.erase(it->second.pos);
            map.erase(it);
        }
    };
    Shard& shardFor(const std::string& key);

    size_t per_shard_;
    Shard shards_[SHARDS];
};

}  // namespace remote_options
}  // namespace isc

#endif
