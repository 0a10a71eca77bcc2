// Helpers shared by the unit tests: packet builders and a scripted fetcher.
#ifndef REMOTE_OPTIONS_TEST_UTIL_H
#define REMOTE_OPTIONS_TEST_UTIL_H

#include "fetcher.h"
#include "identity.h"

#include <dhcp/dhcp4.h>
#include <dhcp/hwaddr.h>
#include <dhcp/option.h>
#include <dhcp/pkt4.h>

#include <atomic>
#include <functional>
#include <mutex>
#include <string>
#include <vector>

namespace test {

using isc::remote_options::Bytes;

inline Bytes bytes(const std::string& s) { return (Bytes(s.begin(), s.end())); }

/// Sub-option TLVs for option 82.
inline Bytes tlv(uint8_t code, const Bytes& value) {
    Bytes out{code, static_cast<uint8_t>(value.size())};
    out.insert(out.end(), value.begin(), value.end());
    return (out);
}

inline Bytes concat(std::initializer_list<Bytes> parts) {
    Bytes out;
    for (const auto& p : parts) {
        out.insert(out.end(), p.begin(), p.end());
    }
    return (out);
}

/// The Pi 4 option 97 payload: type 0 + GUID starting with the fourcc (wire order given).
inline Bytes piGuid(const std::string& fourcc) {
    Bytes out;
    out.reserve(1 + fourcc.size() + 12);
    out.push_back(0x00);
    for (char c : fourcc) {
        out.push_back(static_cast<uint8_t>(c));
    }
    Bytes rest{0x11, 0x31, 0xc0, 0x00, 0x00, 0x00, 0x00, 0x01, 0x6e, 0x87, 0xa4, 0x17};
    out.insert(out.end(), rest.begin(), rest.end());
    return (out);
}

struct PacketSpec {
    uint8_t type = isc::dhcp::DHCPDISCOVER;
    std::string giaddr = "10.90.1.1";
    Bytes mac{0xdc, 0xa6, 0x32, 0x00, 0x00, 0x01};
    bool with_77 = false;
    Bytes opt77;
    bool with_97 = true;
    Bytes opt97 = piGuid("RPi4");
    bool with_82 = true;
    Bytes opt82 = concat({tlv(1, bytes("Gi1/0/1")), tlv(2, bytes("tor-a-01"))});
};

/// Wire bytes of a query: packed by Kea, with option 82 spliced in raw (so it can be malformed).
Bytes wireQuery(const PacketSpec& spec);

/// A query as Kea's receive path sees it: parsed from wire bytes by Pkt4::unpack().
isc::dhcp::Pkt4Ptr parsedQuery(const PacketSpec& spec);

/// A response of the given type with optional pre-set options.
isc::dhcp::Pkt4Ptr response(uint8_t type);

/// Fetcher answering from a function, counting calls (thread-safe).
class FakeFetcher : public isc::remote_options::Fetcher {
public:
    typedef std::function<isc::remote_options::FetchResult(const std::string&)> Script;
    explicit FakeFetcher(Script script) : script_(script) {}
    isc::remote_options::FetchResult get(const std::string& url) override {
        ++calls;
        {
            std::lock_guard<std::mutex> lock(mutex);
            urls.push_back(url);
        }
        return (script_(url));
    }
    std::atomic<int> calls{0};
    std::mutex mutex;
    std::vector<std::string> urls;

private:
    Script script_;
};

inline isc::remote_options::FetchResult ok(const std::string& body) {
    isc::remote_options::FetchResult r;
    r.kind = isc::remote_options::FetchResult::Ok;
    r.status = 200;
    r.body = body;
    return (r);
}

inline isc::remote_options::FetchResult failure(isc::remote_options::FetchResult::Kind kind,
                                                long status = 0) {
    isc::remote_options::FetchResult r;
    r.kind = kind;
    r.status = status;
    r.error = "scripted failure";
    return (r);
}

inline std::string toHexForTest(const Bytes& b) { return (isc::remote_options::toHex(b)); }

/// String value of an option in a packet, or "(absent)".
std::string optionText(isc::dhcp::Pkt4& pkt, uint16_t code);

/// Defines option 224 as a string (as the lab's Kea config does) for the test's lifetime.
struct RuntimeDefs {
    RuntimeDefs();
    ~RuntimeDefs();
};

}  // namespace test

#endif
