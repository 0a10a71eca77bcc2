#include "test_util.h"

#include <dhcp/libdhcp++.h>
#include <dhcp/option_definition.h>
#include <dhcp/std_option_defs.h>
#include <util/buffer.h>

using namespace isc::dhcp;

namespace test {

Bytes wireQuery(const PacketSpec& spec) {
    Pkt4 pkt(spec.type, 0x12345678);
    pkt.setHWAddr(HWAddrPtr(new HWAddr(spec.mac, HTYPE_ETHER)));
    pkt.setGiaddr(isc::asiolink::IOAddress(spec.giaddr));
    pkt.setHops(spec.giaddr == "0.0.0.0" ? 0 : 1);
    if (spec.with_77) {
        pkt.addOption(OptionPtr(new Option(Option::V4, DHO_USER_CLASS, spec.opt77)));
    }
    if (spec.with_97) {
        pkt.addOption(OptionPtr(new Option(Option::V4, DHO_UUID_GUID, spec.opt97)));
    }
    pkt.pack();
    const isc::util::OutputBuffer& buf = pkt.getBuffer();
    const uint8_t* data = static_cast<const uint8_t*>(buf.getData());
    Bytes wire(data, data + buf.getLength());
    if (spec.with_82) {
        // Insert before the END option (the last 255 byte of the packed options).
        size_t end = wire.size();
        while (end > 0 && wire[end - 1] != 255) {
            --end;
        }
        Bytes rai{DHO_DHCP_AGENT_OPTIONS, static_cast<uint8_t>(spec.opt82.size())};
        rai.insert(rai.end(), spec.opt82.begin(), spec.opt82.end());
        wire.insert(wire.begin() + static_cast<long>(end - 1), rai.begin(), rai.end());
    }
    return (wire);
}

Pkt4Ptr parsedQuery(const PacketSpec& spec) {
    Bytes wire = wireQuery(spec);
    Pkt4Ptr pkt(new Pkt4(wire.data(), wire.size()));
    pkt->unpack();
    return (pkt);
}

Pkt4Ptr response(uint8_t type) {
    return (Pkt4Ptr(new Pkt4(type, 0x12345678)));
}

std::string optionText(Pkt4& pkt, uint16_t code) {
    OptionPtr opt = pkt.getOption(code);
    if (!opt) {
        return ("(absent)");
    }
    OptionBuffer data = opt->toBinary(false);
    return (std::string(data.begin(), data.end()));
}

RuntimeDefs::RuntimeDefs() {
    OptionDefSpaceContainer defs;
    defs.addItem(OptionDefinitionPtr(new OptionDefinition("malina-install-url", 224, DHCP4_OPTION_SPACE,
                                                          "string")));
    LibDHCP::setRuntimeOptionDefs(defs);
}

RuntimeDefs::~RuntimeDefs() {
    LibDHCP::clearRuntimeOptionDefs();
}

}  // namespace test
