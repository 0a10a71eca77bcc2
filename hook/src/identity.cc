#include "identity.h"

#include <algorithm>
#include <cstring>

namespace isc {
namespace remote_options {

std::string toHex(const uint8_t* data, size_t len) {
    static const char digits[] = "0123456789abcdef";
    std::string out;
    out.resize(len * 2);
    for (size_t i = 0; i < len; ++i) {
        out[2 * i] = digits[data[i] >> 4];
        out[2 * i + 1] = digits[data[i] & 0x0f];
    }
    return (out);
}

bool containsBytes(const Bytes& hay, const std::string& needle) {
    if (needle.empty() || hay.size() < needle.size()) {
        return (false);
    }
    return (std::search(hay.begin(), hay.end(), needle.begin(), needle.end(),
                        [](uint8_t a, char b) { return (a == static_cast<uint8_t>(b)); })
            != hay.end());
}

bool guidMatches(const Bytes& guid_payload, const std::string& machine_guid) {
    if (machine_guid.empty()) {
        return (false);
    }
    if (containsBytes(guid_payload, machine_guid)) {
        return (true);
    }
    std::string reversed(machine_guid.rbegin(), machine_guid.rend());
    return (containsBytes(guid_payload, reversed));
}

bool parseSubOptions(const uint8_t* data, size_t len, std::map<uint8_t, Bytes>& out) {
    size_t pos = 0;
    while (pos < len) {
        uint8_t code = data[pos];
        if (code == 0) {          // pad
            ++pos;
            continue;
        }
        if (code == 255) {        // end
            break;
        }
        if (pos + 1 >= len) {
            return (false);       // code without a length byte
        }
        size_t sublen = data[pos + 1];
        if (pos + 2 + sublen > len) {
            return (false);       // value runs past the end
        }
        if (!out.count(code)) {
            out[code] = Bytes(data + pos + 2, data + pos + 2 + sublen);
        }
        pos += 2 + sublen;
    }
    return (true);
}

bool identityFromSubOptions(const std::map<uint8_t, Bytes>& subs, Identity& id, std::string& why) {
    auto hex = [&subs](uint8_t code) {
        auto it = subs.find(code);
        return (it == subs.end() ? std::string() : toHex(it->second));
    };
    id.sub1 = hex(1);
    id.sub2 = hex(2);
    id.sub9 = hex(9);
    if (id.sub1.empty() && id.sub2.empty()) {
        why = "neither circuit-id nor remote-id (or both empty)";
        return (false);
    }
    return (true);
}

std::string Identity::query() const {
    std::string q;
    auto add = [&q](const char* name, const std::string& value) {
        if (value.empty()) {
            return;
        }
        if (!q.empty()) {
            q += '&';
        }
        q += name;
        q += '=';
        q += value;
    };
    add("sub82_1", sub1);
    add("sub82_2", sub2);
    add("sub82_9", sub9);
    add("mac", mac);
    add("guid", guid);
    return (q);
}

std::string buildUrl(const std::string& base, const std::string& query) {
    if (query.empty()) {
        return (base);
    }
    char sep = '?';
    if (base.find('?') != std::string::npos) {
        char last = base.back();
        if (last == '?' || last == '&') {
            return (base + query);
        }
        sep = '&';
    }
    return (base + sep + query);
}

Bytes optionPayload(const isc::dhcp::OptionPtr& opt) {
    if (!opt) {
        return (Bytes());
    }
    return (opt->toBinary(false));
}

}  // namespace remote_options
}  // namespace isc
