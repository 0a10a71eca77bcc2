// What the hook does to one client's response.
#ifndef REMOTE_OPTIONS_DECISION_H
#define REMOTE_OPTIONS_DECISION_H

#include <dhcp/option.h>

#include <chrono>
#include <cstdint>
#include <memory>
#include <vector>

namespace isc {
namespace remote_options {

typedef std::chrono::steady_clock Clock;

struct Decision {
    bool from_backend = false;                 ///< false: the failure policy
    bool drop = false;                         ///< send no reply at all (overloaded: the client retries)
    std::vector<uint16_t> remove;              ///< codes deleted from the response first
    std::vector<isc::dhcp::OptionPtr> set;     ///< options set or replaced (cloned per response)
};

typedef std::shared_ptr<const Decision> DecisionPtr;

}  // namespace remote_options
}  // namespace isc

#endif
