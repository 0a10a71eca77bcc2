#include "cache.h"

namespace isc {
namespace remote_options {

Cache::Cache(size_t max_entries)
    : per_shard_(max_entries == 0 ? 0 : (max_entries + SHARDS - 1) / SHARDS) {
}

Cache::Shard& Cache::shardFor(const std::string& key) {
    return (shards_[std::hash<std::string>()(key) % SHARDS]);
}

DecisionPtr Cache::get(const std::string& key, Clock::time_point now) {
    if (per_shard_ == 0) {
        return (DecisionPtr());
    }
    Shard& shard = shardFor(key);
    std::lock_guard<std::mutex> lock(shard.mutex);
    auto it = shard.map.find(key);
    if (it == shard.map.end()) {
        return (DecisionPtr());
    }
    if (it->second.expires <= now) {
        shard.erase(it);
        return (DecisionPtr());
    }
    shard.order.splice(shard.order.end(), shard.order, it->second.pos);
    return (it->second.value);
}

void Cache::put(const std::string& key, const DecisionPtr& value, long ttl_ms, Clock::time_point now) {
    if (per_shard_ == 0 || ttl_ms <= 0 || !value) {
        return;
    }
    Shard& shard = shardFor(key);
    Clock::time_point expires = now + std::chrono::milliseconds(ttl_ms);
    std::lock_guard<std::mutex> lock(shard.mutex);
    auto it = shard.map.find(key);
    if (it != shard.map.end()) {
        it->second.value = value;
        it->second.expires = expires;
        shard.order.splice(shard.order.end(), shard.order, it->second.pos);
        return;
    }
    while (shard.map.size() >= per_shard_ && !shard.order.empty()) {
        shard.erase(shard.map.find(*shard.order.front()));   // the least recently used
    }
    auto added = shard.map.emplace(key, Entry{value, expires, shard.order.end()}).first;
    added->second.pos = shard.order.insert(shard.order.end(), &added->first);
}

size_t Cache::flush(const std::function<bool(const std::string&)>& pred) {
    size_t removed = 0;
    for (Shard& shard : shards_) {
        std::lock_guard<std::mutex> lock(shard.mutex);
        for (auto e = shard.map.begin(); e != shard.map.end();) {
            if (pred(e->first)) {
                shard.order.erase(e->second.pos);
                e = shard.map.erase(e);
                ++removed;
            } else {
                ++e;
            }
        }
    }
    return (removed);
}

size_t Cache::flushAll() {
    size_t removed = 0;
    for (Shard& shard : shards_) {
        std::lock_guard<std::mutex> lock(shard.mutex);
        removed += shard.map.size();
        shard.map.clear();
        shard.order.clear();
    }
    return (removed);
}

size_t Cache::size() {
    size_t n = 0;
    for (Shard& shard : shards_) {
        std::lock_guard<std::mutex> lock(shard.mutex);
        n += shard.map.size();
    }
    return (n);
}

}  // namespace remote_options
}  // namespace isc
