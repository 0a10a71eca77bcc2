// Long option values: what the hook accepts must reach the client as one option, whole.
// Kea 2.2 packs an option whose length *with* its 2-byte header exceeds 255 as several options of the
// same code (RFC 3396); a client that reads only the first (the Pi's bootloader for 66/67, a DHCP client
// that does not join them) gets a cut value. And Option::len() is a uint16_t: a 65,534-byte value's
// length wraps to 0.
#include "answer.h"
#include "test_util.h"

#include <dhcp/dhcp4.h>
#include <dhcp/pkt4.h>
#include <gtest/gtest.h>

#include <string>

using namespace isc::remote_options;
using isc::dhcp::DHCPOFFER;
using isc::dhcp::DHO_END;
using isc::dhcp::DHO_PAD;

namespace {

/// The options of a packed DHCPv4 packet with `code`: how many pieces and their joined value.
struct Pieces {
    int count = 0;
    std::string joined;
};

Pieces onTheWire(const isc::dhcp::OptionPtr& opt) {
    isc::dhcp::Pkt4Ptr offer(new isc::dhcp::Pkt4(DHCPOFFER, 1234));
    offer->addOption(opt);
    offer->pack();
    const isc::util::OutputBuffer& buf = offer->getBuffer();
    const uint8_t* data = static_cast<const uint8_t*>(buf.getData());
    Pieces out;
    // Fixed header (236) + magic cookie (4), then code/length/value triples until END.
    for (size_t i = 240; i < buf.getLength() && data[i] != DHO_END;) {
        if (data[i] == DHO_PAD) {
            ++i;
            continue;
        }
        if (data[i] == opt->getType()) {
            ++out.count;
            out.joined.append(reinterpret_cast<const char*>(data + i + 2), data[i + 1]);
        }
        i += 2 + data[i + 1];
    }
    return (out);
}

std::string answerWith(size_t n) {
    return ("{\"224\": \"" + std::string(n, 'u') + "\"}");
}

TEST(AnswerLengthTest, LongestAcceptedValueGoesOutWholeInOneOption) {
    test::RuntimeDefs defs;   // 224 as a string option, as the lab's option-def has it
    for (size_t n : {1u, 200u, 252u, 253u}) {
        ParsedAnswer a = parseAnswer(answerWith(n), {224});
        ASSERT_EQ(AnswerError::None, a.error) << n << ": " << a.detail;
        Pieces wire = onTheWire(a.options.at(0));
        EXPECT_EQ(1, wire.count) << n;
        EXPECT_EQ(std::string(n, 'u'), wire.joined) << n;
    }
}

TEST(AnswerLengthTest, ValueThatKeaWouldSplitIsRefused) {
    test::RuntimeDefs defs;
    // 254 and 255 bytes: legal DHCP lengths, but Kea 2.2 sends them as two options (the header counted).
    // 65,534 / 65,535: len() wraps to 0 / 1.
    for (size_t n : {254u, 255u, 256u, 1000u, 65534u, 65535u}) {
        ParsedAnswer a = parseAnswer(answerWith(n), {224});
        EXPECT_EQ(AnswerError::BadValue, a.error) << n;
        EXPECT_EQ(224, a.bad_code) << n;
        EXPECT_TRUE(a.options.empty()) << n;
    }
}

TEST(AnswerLengthTest, SameLimitWithoutDefinition) {
    // No option-def: the string's bytes as a plain Option.
    EXPECT_EQ(AnswerError::None, parseAnswer(answerWith(253), {224}).error);
    EXPECT_EQ(AnswerError::BadValue, parseAnswer(answerWith(254), {224}).error);
    EXPECT_EQ(AnswerError::BadValue, parseAnswer(answerWith(65534), {224}).error);
}

TEST(AnswerLengthTest, EncodeOptionNamesTheLimit) {
    try {
        encodeOption(224, std::string(254, 'u'));
        ADD_FAILURE() << "254 bytes accepted";
    } catch (const isc::BadValue& ex) {
        EXPECT_NE(std::string::npos, std::string(ex.what()).find("253")) << ex.what();
    }
}

}  // namespace
