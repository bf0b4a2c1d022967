//! The IANA IPFIX information element registry (RFC 7012, elements 1..=433), as
//! `(snake_case name, abstract data type)`, indexed by element id. Generated from the
//! registry's name/id/type columns; NetFlow v9 field types 1..=127 are the same elements
//! (RFC 3954 §8 and RFC 5102 §4 keep them aligned), so v9 uses this table too.

use super::Kind;

/// Element `id` is `IES[id]`; `None` for unassigned ids.
pub(super) static IES: [Option<(&str, Kind)>; 434] = [
    None,                                                               // 0
    Some(("netflow.octet_delta_count", Kind::Unsigned)),                // 1 octetDeltaCount
    Some(("netflow.packet_delta_count", Kind::Unsigned)),               // 2 packetDeltaCount
    Some(("netflow.delta_flow_count", Kind::Unsigned)),                 // 3 deltaFlowCount
    Some(("netflow.protocol_identifier", Kind::Unsigned)),              // 4 protocolIdentifier
    Some(("netflow.ip_class_of_service", Kind::Unsigned)),              // 5 ipClassOfService
    Some(("netflow.tcp_control_bits", Kind::Unsigned)),                 // 6 tcpControlBits
    Some(("netflow.source_transport_port", Kind::Unsigned)),            // 7 sourceTransportPort
    Some(("netflow.source_ipv4_address", Kind::Ipv4)),                  // 8 sourceIPv4Address
    Some(("netflow.source_ipv4_prefix_length", Kind::Unsigned)),        // 9 sourceIPv4PrefixLength
    Some(("netflow.ingress_interface", Kind::Unsigned)),                // 10 ingressInterface
    Some(("netflow.destination_transport_port", Kind::Unsigned)), // 11 destinationTransportPort
    Some(("netflow.destination_ipv4_address", Kind::Ipv4)),       // 12 destinationIPv4Address
    Some(("netflow.destination_ipv4_prefix_length", Kind::Unsigned)), // 13 destinationIPv4PrefixLength
    Some(("netflow.egress_interface", Kind::Unsigned)),               // 14 egressInterface
    Some(("netflow.ip_next_hop_ipv4_address", Kind::Ipv4)),           // 15 ipNextHopIPv4Address
    Some(("netflow.bgp_source_as_number", Kind::Unsigned)),           // 16 bgpSourceAsNumber
    Some(("netflow.bgp_destination_as_number", Kind::Unsigned)),      // 17 bgpDestinationAsNumber
    Some(("netflow.bgp_next_hop_ipv4_address", Kind::Ipv4)),          // 18 bgpNextHopIPv4Address
    Some(("netflow.post_mcast_packet_delta_count", Kind::Unsigned)), // 19 postMCastPacketDeltaCount
    Some(("netflow.post_mcast_octet_delta_count", Kind::Unsigned)),  // 20 postMCastOctetDeltaCount
    Some(("netflow.flow_end_sys_up_time", Kind::Unsigned)),          // 21 flowEndSysUpTime
    Some(("netflow.flow_start_sys_up_time", Kind::Unsigned)),        // 22 flowStartSysUpTime
    Some(("netflow.post_octet_delta_count", Kind::Unsigned)),        // 23 postOctetDeltaCount
    Some(("netflow.post_packet_delta_count", Kind::Unsigned)),       // 24 postPacketDeltaCount
    Some(("netflow.minimum_ip_total_length", Kind::Unsigned)),       // 25 minimumIpTotalLength
    Some(("netflow.maximum_ip_total_length", Kind::Unsigned)),       // 26 maximumIpTotalLength
    Some(("netflow.source_ipv6_address", Kind::Ipv6)),               // 27 sourceIPv6Address
    Some(("netflow.destination_ipv6_address", Kind::Ipv6)),          // 28 destinationIPv6Address
    Some(("netflow.source_ipv6_prefix_length", Kind::Unsigned)),     // 29 sourceIPv6PrefixLength
    Some(("netflow.destination_ipv6_prefix_length", Kind::Unsigned)), // 30 destinationIPv6PrefixLength
    Some(("netflow.flow_label_ipv6", Kind::Unsigned)),                // 31 flowLabelIPv6
    Some(("netflow.icmp_type_code_ipv4", Kind::Unsigned)),            // 32 icmpTypeCodeIPv4
    Some(("netflow.igmp_type", Kind::Unsigned)),                      // 33 igmpType
    Some(("netflow.sampling_interval", Kind::Unsigned)),              // 34 samplingInterval
    Some(("netflow.sampling_algorithm", Kind::Unsigned)),             // 35 samplingAlgorithm
    Some(("netflow.flow_active_timeout", Kind::Unsigned)),            // 36 flowActiveTimeout
    Some(("netflow.flow_idle_timeout", Kind::Unsigned)),              // 37 flowIdleTimeout
    Some(("netflow.engine_type", Kind::Unsigned)),                    // 38 engineType
    Some(("netflow.engine_id", Kind::Unsigned)),                      // 39 engineId
    Some(("netflow.exported_octet_total_count", Kind::Unsigned)),     // 40 exportedOctetTotalCount
    Some(("netflow.exported_message_total_count", Kind::Unsigned)), // 41 exportedMessageTotalCount
    Some(("netflow.exported_flow_record_total_count", Kind::Unsigned)), // 42 exportedFlowRecordTotalCount
    Some(("netflow.ipv4_router_sc", Kind::Ipv4)),                       // 43 ipv4RouterSc
    Some(("netflow.source_ipv4_prefix", Kind::Ipv4)),                   // 44 sourceIPv4Prefix
    Some(("netflow.destination_ipv4_prefix", Kind::Ipv4)),              // 45 destinationIPv4Prefix
    Some(("netflow.mpls_top_label_type", Kind::Unsigned)),              // 46 mplsTopLabelType
    Some(("netflow.mpls_top_label_ipv4_address", Kind::Ipv4)), // 47 mplsTopLabelIPv4Address
    Some(("netflow.sampler_id", Kind::Unsigned)),              // 48 samplerId
    Some(("netflow.sampler_mode", Kind::Unsigned)),            // 49 samplerMode
    Some(("netflow.sampler_random_interval", Kind::Unsigned)), // 50 samplerRandomInterval
    Some(("netflow.class_id", Kind::Unsigned)),                // 51 classId
    Some(("netflow.minimum_ttl", Kind::Unsigned)),             // 52 minimumTTL
    Some(("netflow.maximum_ttl", Kind::Unsigned)),             // 53 maximumTTL
    Some(("netflow.fragment_identification", Kind::Unsigned)), // 54 fragmentIdentification
    Some(("netflow.post_ip_class_of_service", Kind::Unsigned)), // 55 postIpClassOfService
    Some(("netflow.source_mac_address", Kind::Mac)),           // 56 sourceMacAddress
    Some(("netflow.post_destination_mac_address", Kind::Mac)), // 57 postDestinationMacAddress
    Some(("netflow.vlan_id", Kind::Unsigned)),                 // 58 vlanId
    Some(("netflow.post_vlan_id", Kind::Unsigned)),            // 59 postVlanId
    Some(("netflow.ip_version", Kind::Unsigned)),              // 60 ipVersion
    Some(("netflow.flow_direction", Kind::Unsigned)),          // 61 flowDirection
    Some(("netflow.ip_next_hop_ipv6_address", Kind::Ipv6)),    // 62 ipNextHopIPv6Address
    Some(("netflow.bgp_next_hop_ipv6_address", Kind::Ipv6)),   // 63 bgpNextHopIPv6Address
    Some(("netflow.ipv6_extension_headers", Kind::Unsigned)),  // 64 ipv6ExtensionHeaders
    None,                                                      // 65
    None,                                                      // 66
    None,                                                      // 67
    None,                                                      // 68
    None,                                                      // 69
    Some(("netflow.mpls_top_label_stack_section", Kind::Octets)), // 70 mplsTopLabelStackSection
    Some(("netflow.mpls_label_stack_section2", Kind::Octets)), // 71 mplsLabelStackSection2
    Some(("netflow.mpls_label_stack_section3", Kind::Octets)), // 72 mplsLabelStackSection3
    Some(("netflow.mpls_label_stack_section4", Kind::Octets)), // 73 mplsLabelStackSection4
    Some(("netflow.mpls_label_stack_section5", Kind::Octets)), // 74 mplsLabelStackSection5
    Some(("netflow.mpls_label_stack_section6", Kind::Octets)), // 75 mplsLabelStackSection6
    Some(("netflow.mpls_label_stack_section7", Kind::Octets)), // 76 mplsLabelStackSection7
    Some(("netflow.mpls_label_stack_section8", Kind::Octets)), // 77 mplsLabelStackSection8
    Some(("netflow.mpls_label_stack_section9", Kind::Octets)), // 78 mplsLabelStackSection9
    Some(("netflow.mpls_label_stack_section10", Kind::Octets)), // 79 mplsLabelStackSection10
    Some(("netflow.destination_mac_address", Kind::Mac)),      // 80 destinationMacAddress
    Some(("netflow.post_source_mac_address", Kind::Mac)),      // 81 postSourceMacAddress
    Some(("netflow.interface_name", Kind::String)),            // 82 interfaceName
    Some(("netflow.interface_description", Kind::String)),     // 83 interfaceDescription
    Some(("netflow.sampler_name", Kind::String)),              // 84 samplerName
    Some(("netflow.octet_total_count", Kind::Unsigned)),       // 85 octetTotalCount
    Some(("netflow.packet_total_count", Kind::Unsigned)),      // 86 packetTotalCount
    Some(("netflow.flags_and_sampler_id", Kind::Unsigned)),    // 87 flagsAndSamplerId
    Some(("netflow.fragment_offset", Kind::Unsigned)),         // 88 fragmentOffset
    Some(("netflow.forwarding_status", Kind::Unsigned)),       // 89 forwardingStatus
    Some(("netflow.mpls_vpn_route_distinguisher", Kind::Octets)), // 90 mplsVpnRouteDistinguisher
    Some(("netflow.mpls_top_label_prefix_length", Kind::Unsigned)), // 91 mplsTopLabelPrefixLength
    Some(("netflow.src_traffic_index", Kind::Unsigned)),       // 92 srcTrafficIndex
    Some(("netflow.dst_traffic_index", Kind::Unsigned)),       // 93 dstTrafficIndex
    Some(("netflow.application_description", Kind::String)),   // 94 applicationDescription
    Some(("netflow.application_id", Kind::Octets)),            // 95 applicationId
    Some(("netflow.application_name", Kind::String)),          // 96 applicationName
    None,                                                      // 97
    Some(("netflow.post_ip_diff_serv_code_point", Kind::Unsigned)), // 98 postIpDiffServCodePoint
    Some(("netflow.multicast_replication_factor", Kind::Unsigned)), // 99 multicastReplicationFactor
    Some(("netflow.class_name", Kind::String)),                // 100 className
    Some(("netflow.classification_engine_id", Kind::Unsigned)), // 101 classificationEngineId
    Some(("netflow.layer2packet_section_offset", Kind::Unsigned)), // 102 layer2packetSectionOffset
    Some(("netflow.layer2packet_section_size", Kind::Unsigned)), // 103 layer2packetSectionSize
    Some(("netflow.layer2packet_section_data", Kind::Octets)), // 104 layer2packetSectionData
    None,                                                      // 105
    None,                                                      // 106
    None,                                                      // 107
    None,                                                      // 108
    None,                                                      // 109
    None,                                                      // 110
    None,                                                      // 111
    None,                                                      // 112
    None,                                                      // 113
    None,                                                      // 114
    None,                                                      // 115
    None,                                                      // 116
    None,                                                      // 117
    None,                                                      // 118
    None,                                                      // 119
    None,                                                      // 120
    None,                                                      // 121
    None,                                                      // 122
    None,                                                      // 123
    None,                                                      // 124
    None,                                                      // 125
    None,                                                      // 126
    None,                                                      // 127
    Some(("netflow.bgp_next_adjacent_as_number", Kind::Unsigned)), // 128 bgpNextAdjacentAsNumber
    Some(("netflow.bgp_prev_adjacent_as_number", Kind::Unsigned)), // 129 bgpPrevAdjacentAsNumber
    Some(("netflow.exporter_ipv4_address", Kind::Ipv4)),       // 130 exporterIPv4Address
    Some(("netflow.exporter_ipv6_address", Kind::Ipv6)),       // 131 exporterIPv6Address
    Some(("netflow.dropped_octet_delta_count", Kind::Unsigned)), // 132 droppedOctetDeltaCount
    Some(("netflow.dropped_packet_delta_count", Kind::Unsigned)), // 133 droppedPacketDeltaCount
    Some(("netflow.dropped_octet_total_count", Kind::Unsigned)), // 134 droppedOctetTotalCount
    Some(("netflow.dropped_packet_total_count", Kind::Unsigned)), // 135 droppedPacketTotalCount
    Some(("netflow.flow_end_reason", Kind::Unsigned)),         // 136 flowEndReason
    Some(("netflow.common_properties_id", Kind::Unsigned)),    // 137 commonPropertiesId
    Some(("netflow.observation_point_id", Kind::Unsigned)),    // 138 observationPointId
    Some(("netflow.icmp_type_code_ipv6", Kind::Unsigned)),     // 139 icmpTypeCodeIPv6
    Some(("netflow.mpls_top_label_ipv6_address", Kind::Ipv6)), // 140 mplsTopLabelIPv6Address
    Some(("netflow.line_card_id", Kind::Unsigned)),            // 141 lineCardId
    Some(("netflow.port_id", Kind::Unsigned)),                 // 142 portId
    Some(("netflow.metering_process_id", Kind::Unsigned)),     // 143 meteringProcessId
    Some(("netflow.exporting_process_id", Kind::Unsigned)),    // 144 exportingProcessId
    Some(("netflow.template_id", Kind::Unsigned)),             // 145 templateId
    Some(("netflow.wlan_channel_id", Kind::Unsigned)),         // 146 wlanChannelId
    Some(("netflow.wlan_ssid", Kind::String)),                 // 147 wlanSSID
    Some(("netflow.flow_id", Kind::Unsigned)),                 // 148 flowId
    Some(("netflow.observation_domain_id", Kind::Unsigned)),   // 149 observationDomainId
    Some(("netflow.flow_start_seconds", Kind::Seconds)),       // 150 flowStartSeconds
    Some(("netflow.flow_end_seconds", Kind::Seconds)),         // 151 flowEndSeconds
    Some(("netflow.flow_start_milliseconds", Kind::Millis)),   // 152 flowStartMilliseconds
    Some(("netflow.flow_end_milliseconds", Kind::Millis)),     // 153 flowEndMilliseconds
    Some(("netflow.flow_start_microseconds", Kind::Micros)),   // 154 flowStartMicroseconds
    Some(("netflow.flow_end_microseconds", Kind::Micros)),     // 155 flowEndMicroseconds
    Some(("netflow.flow_start_nanoseconds", Kind::Nanos)),     // 156 flowStartNanoseconds
    Some(("netflow.flow_end_nanoseconds", Kind::Nanos)),       // 157 flowEndNanoseconds
    Some(("netflow.flow_start_delta_microseconds", Kind::Unsigned)), // 158 flowStartDeltaMicroseconds
    Some(("netflow.flow_end_delta_microseconds", Kind::Unsigned)),   // 159 flowEndDeltaMicroseconds
    Some(("netflow.system_init_time_milliseconds", Kind::Millis)), // 160 systemInitTimeMilliseconds
    Some(("netflow.flow_duration_milliseconds", Kind::Unsigned)),  // 161 flowDurationMilliseconds
    Some(("netflow.flow_duration_microseconds", Kind::Unsigned)),  // 162 flowDurationMicroseconds
    Some(("netflow.observed_flow_total_count", Kind::Unsigned)),   // 163 observedFlowTotalCount
    Some(("netflow.ignored_packet_total_count", Kind::Unsigned)),  // 164 ignoredPacketTotalCount
    Some(("netflow.ignored_octet_total_count", Kind::Unsigned)),   // 165 ignoredOctetTotalCount
    Some(("netflow.not_sent_flow_total_count", Kind::Unsigned)),   // 166 notSentFlowTotalCount
    Some(("netflow.not_sent_packet_total_count", Kind::Unsigned)), // 167 notSentPacketTotalCount
    Some(("netflow.not_sent_octet_total_count", Kind::Unsigned)),  // 168 notSentOctetTotalCount
    Some(("netflow.destination_ipv6_prefix", Kind::Ipv6)),         // 169 destinationIPv6Prefix
    Some(("netflow.source_ipv6_prefix", Kind::Ipv6)),              // 170 sourceIPv6Prefix
    Some(("netflow.post_octet_total_count", Kind::Unsigned)),      // 171 postOctetTotalCount
    Some(("netflow.post_packet_total_count", Kind::Unsigned)),     // 172 postPacketTotalCount
    Some(("netflow.flow_key_indicator", Kind::Unsigned)),          // 173 flowKeyIndicator
    Some(("netflow.post_mcast_packet_total_count", Kind::Unsigned)), // 174 postMCastPacketTotalCount
    Some(("netflow.post_mcast_octet_total_count", Kind::Unsigned)),  // 175 postMCastOctetTotalCount
    Some(("netflow.icmp_type_ipv4", Kind::Unsigned)),                // 176 icmpTypeIPv4
    Some(("netflow.icmp_code_ipv4", Kind::Unsigned)),                // 177 icmpCodeIPv4
    Some(("netflow.icmp_type_ipv6", Kind::Unsigned)),                // 178 icmpTypeIPv6
    Some(("netflow.icmp_code_ipv6", Kind::Unsigned)),                // 179 icmpCodeIPv6
    Some(("netflow.udp_source_port", Kind::Unsigned)),               // 180 udpSourcePort
    Some(("netflow.udp_destination_port", Kind::Unsigned)),          // 181 udpDestinationPort
    Some(("netflow.tcp_source_port", Kind::Unsigned)),               // 182 tcpSourcePort
    Some(("netflow.tcp_destination_port", Kind::Unsigned)),          // 183 tcpDestinationPort
    Some(("netflow.tcp_sequence_number", Kind::Unsigned)),           // 184 tcpSequenceNumber
    Some(("netflow.tcp_acknowledgement_number", Kind::Unsigned)),    // 185 tcpAcknowledgementNumber
    Some(("netflow.tcp_window_size", Kind::Unsigned)),               // 186 tcpWindowSize
    Some(("netflow.tcp_urgent_pointer", Kind::Unsigned)),            // 187 tcpUrgentPointer
    Some(("netflow.tcp_header_length", Kind::Unsigned)),             // 188 tcpHeaderLength
    Some(("netflow.ip_header_length", Kind::Unsigned)),              // 189 ipHeaderLength
    Some(("netflow.total_length_ipv4", Kind::Unsigned)),             // 190 totalLengthIPv4
    Some(("netflow.payload_length_ipv6", Kind::Unsigned)),           // 191 payloadLengthIPv6
    Some(("netflow.ip_ttl", Kind::Unsigned)),                        // 192 ipTTL
    Some(("netflow.next_header_ipv6", Kind::Unsigned)),              // 193 nextHeaderIPv6
    Some(("netflow.mpls_payload_length", Kind::Unsigned)),           // 194 mplsPayloadLength
    Some(("netflow.ip_diff_serv_code_point", Kind::Unsigned)),       // 195 ipDiffServCodePoint
    Some(("netflow.ip_precedence", Kind::Unsigned)),                 // 196 ipPrecedence
    Some(("netflow.fragment_flags", Kind::Unsigned)),                // 197 fragmentFlags
    Some(("netflow.octet_delta_sum_of_squares", Kind::Unsigned)),    // 198 octetDeltaSumOfSquares
    Some(("netflow.octet_total_sum_of_squares", Kind::Unsigned)),    // 199 octetTotalSumOfSquares
    Some(("netflow.mpls_top_label_ttl", Kind::Unsigned)),            // 200 mplsTopLabelTTL
    Some(("netflow.mpls_label_stack_length", Kind::Unsigned)),       // 201 mplsLabelStackLength
    Some(("netflow.mpls_label_stack_depth", Kind::Unsigned)),        // 202 mplsLabelStackDepth
    Some(("netflow.mpls_top_label_exp", Kind::Unsigned)),            // 203 mplsTopLabelExp
    Some(("netflow.ip_payload_length", Kind::Unsigned)),             // 204 ipPayloadLength
    Some(("netflow.udp_message_length", Kind::Unsigned)),            // 205 udpMessageLength
    Some(("netflow.is_multicast", Kind::Unsigned)),                  // 206 isMulticast
    Some(("netflow.ipv4_ihl", Kind::Unsigned)),                      // 207 ipv4IHL
    Some(("netflow.ipv4_options", Kind::Unsigned)),                  // 208 ipv4Options
    Some(("netflow.tcp_options", Kind::Unsigned)),                   // 209 tcpOptions
    Some(("netflow.padding_octets", Kind::Octets)),                  // 210 paddingOctets
    Some(("netflow.collector_ipv4_address", Kind::Ipv4)),            // 211 collectorIPv4Address
    Some(("netflow.collector_ipv6_address", Kind::Ipv6)),            // 212 collectorIPv6Address
    Some(("netflow.export_interface", Kind::Unsigned)),              // 213 exportInterface
    Some(("netflow.export_protocol_version", Kind::Unsigned)),       // 214 exportProtocolVersion
    Some(("netflow.export_transport_protocol", Kind::Unsigned)),     // 215 exportTransportProtocol
    Some(("netflow.collector_transport_port", Kind::Unsigned)),      // 216 collectorTransportPort
    Some(("netflow.exporter_transport_port", Kind::Unsigned)),       // 217 exporterTransportPort
    Some(("netflow.tcp_syn_total_count", Kind::Unsigned)),           // 218 tcpSynTotalCount
    Some(("netflow.tcp_fin_total_count", Kind::Unsigned)),           // 219 tcpFinTotalCount
    Some(("netflow.tcp_rst_total_count", Kind::Unsigned)),           // 220 tcpRstTotalCount
    Some(("netflow.tcp_psh_total_count", Kind::Unsigned)),           // 221 tcpPshTotalCount
    Some(("netflow.tcp_ack_total_count", Kind::Unsigned)),           // 222 tcpAckTotalCount
    Some(("netflow.tcp_urg_total_count", Kind::Unsigned)),           // 223 tcpUrgTotalCount
    Some(("netflow.ip_total_length", Kind::Unsigned)),               // 224 ipTotalLength
    Some(("netflow.post_nat_source_ipv4_address", Kind::Ipv4)),      // 225 postNATSourceIPv4Address
    Some(("netflow.post_nat_destination_ipv4_address", Kind::Ipv4)), // 226 postNATDestinationIPv4Address
    Some(("netflow.post_napt_source_transport_port", Kind::Unsigned)), // 227 postNAPTSourceTransportPort
    Some((
        "netflow.post_napt_destination_transport_port",
        Kind::Unsigned,
    )), // 228 postNAPTDestinationTransportPort
    Some(("netflow.nat_originating_address_realm", Kind::Unsigned)), // 229 natOriginatingAddressRealm
    Some(("netflow.nat_event", Kind::Unsigned)),                     // 230 natEvent
    Some(("netflow.initiator_octets", Kind::Unsigned)),              // 231 initiatorOctets
    Some(("netflow.responder_octets", Kind::Unsigned)),              // 232 responderOctets
    Some(("netflow.firewall_event", Kind::Unsigned)),                // 233 firewallEvent
    Some(("netflow.ingress_vrfid", Kind::Unsigned)),                 // 234 ingressVRFID
    Some(("netflow.egress_vrfid", Kind::Unsigned)),                  // 235 egressVRFID
    Some(("netflow.vrf_name", Kind::String)),                        // 236 VRFname
    Some(("netflow.post_mpls_top_label_exp", Kind::Unsigned)),       // 237 postMplsTopLabelExp
    Some(("netflow.tcp_window_scale", Kind::Unsigned)),              // 238 tcpWindowScale
    Some(("netflow.biflow_direction", Kind::Unsigned)),              // 239 biflowDirection
    Some(("netflow.ethernet_header_length", Kind::Unsigned)),        // 240 ethernetHeaderLength
    Some(("netflow.ethernet_payload_length", Kind::Unsigned)),       // 241 ethernetPayloadLength
    Some(("netflow.ethernet_total_length", Kind::Unsigned)),         // 242 ethernetTotalLength
    Some(("netflow.dot1q_vlan_id", Kind::Unsigned)),                 // 243 dot1qVlanId
    Some(("netflow.dot1q_priority", Kind::Unsigned)),                // 244 dot1qPriority
    Some(("netflow.dot1q_customer_vlan_id", Kind::Unsigned)),        // 245 dot1qCustomerVlanId
    Some(("netflow.dot1q_customer_priority", Kind::Unsigned)),       // 246 dot1qCustomerPriority
    Some(("netflow.metro_evc_id", Kind::String)),                    // 247 metroEvcId
    Some(("netflow.metro_evc_type", Kind::Unsigned)),                // 248 metroEvcType
    Some(("netflow.pseudo_wire_id", Kind::Unsigned)),                // 249 pseudoWireId
    Some(("netflow.pseudo_wire_type", Kind::Unsigned)),              // 250 pseudoWireType
    Some(("netflow.pseudo_wire_control_word", Kind::Unsigned)),      // 251 pseudoWireControlWord
    Some(("netflow.ingress_physical_interface", Kind::Unsigned)),    // 252 ingressPhysicalInterface
    Some(("netflow.egress_physical_interface", Kind::Unsigned)),     // 253 egressPhysicalInterface
    Some(("netflow.post_dot1q_vlan_id", Kind::Unsigned)),            // 254 postDot1qVlanId
    Some(("netflow.post_dot1q_customer_vlan_id", Kind::Unsigned)),   // 255 postDot1qCustomerVlanId
    Some(("netflow.ethernet_type", Kind::Unsigned)),                 // 256 ethernetType
    Some(("netflow.post_ip_precedence", Kind::Unsigned)),            // 257 postIpPrecedence
    Some(("netflow.collection_time_milliseconds", Kind::Millis)), // 258 collectionTimeMilliseconds
    Some(("netflow.export_sctp_stream_id", Kind::Unsigned)),      // 259 exportSctpStreamId
    Some(("netflow.max_export_seconds", Kind::Seconds)),          // 260 maxExportSeconds
    Some(("netflow.max_flow_end_seconds", Kind::Seconds)),        // 261 maxFlowEndSeconds
    Some(("netflow.message_md5_checksum", Kind::Octets)),         // 262 messageMD5Checksum
    Some(("netflow.message_scope", Kind::Unsigned)),              // 263 messageScope
    Some(("netflow.min_export_seconds", Kind::Seconds)),          // 264 minExportSeconds
    Some(("netflow.min_flow_start_seconds", Kind::Seconds)),      // 265 minFlowStartSeconds
    Some(("netflow.opaque_octets", Kind::Octets)),                // 266 opaqueOctets
    Some(("netflow.session_scope", Kind::Unsigned)),              // 267 sessionScope
    Some(("netflow.max_flow_end_microseconds", Kind::Micros)),    // 268 maxFlowEndMicroseconds
    Some(("netflow.max_flow_end_milliseconds", Kind::Millis)),    // 269 maxFlowEndMilliseconds
    Some(("netflow.max_flow_end_nanoseconds", Kind::Nanos)),      // 270 maxFlowEndNanoseconds
    Some(("netflow.min_flow_start_microseconds", Kind::Micros)),  // 271 minFlowStartMicroseconds
    Some(("netflow.min_flow_start_milliseconds", Kind::Millis)),  // 272 minFlowStartMilliseconds
    Some(("netflow.min_flow_start_nanoseconds", Kind::Nanos)),    // 273 minFlowStartNanoseconds
    Some(("netflow.collector_certificate", Kind::Octets)),        // 274 collectorCertificate
    Some(("netflow.exporter_certificate", Kind::Octets)),         // 275 exporterCertificate
    Some(("netflow.data_records_reliability", Kind::Boolean)),    // 276 dataRecordsReliability
    Some(("netflow.observation_point_type", Kind::Unsigned)),     // 277 observationPointType
    Some(("netflow.connection_count_new", Kind::Unsigned)),       // 278 connectionCountNew
    Some(("netflow.connection_sum_duration_seconds", Kind::Unsigned)), // 279 connectionSumDurationSeconds
    Some(("netflow.connection_transaction_id", Kind::Unsigned)), // 280 connectionTransactionId
    Some(("netflow.post_nat_source_ipv6_address", Kind::Ipv6)),  // 281 postNATSourceIPv6Address
    Some(("netflow.post_nat_destination_ipv6_address", Kind::Ipv6)), // 282 postNATDestinationIPv6Address
    Some(("netflow.nat_pool_id", Kind::Unsigned)),                   // 283 natPoolId
    Some(("netflow.nat_pool_name", Kind::String)),                   // 284 natPoolName
    Some(("netflow.anonymization_flags", Kind::Unsigned)),           // 285 anonymizationFlags
    Some(("netflow.anonymization_technique", Kind::Unsigned)),       // 286 anonymizationTechnique
    Some(("netflow.information_element_index", Kind::Unsigned)),     // 287 informationElementIndex
    Some(("netflow.p2p_technology", Kind::String)),                  // 288 p2pTechnology
    Some(("netflow.tunnel_technology", Kind::String)),               // 289 tunnelTechnology
    Some(("netflow.encrypted_technology", Kind::String)),            // 290 encryptedTechnology
    None,                                                            // 291
    None,                                                            // 292
    None,                                                            // 293
    Some(("netflow.bgp_validity_state", Kind::Unsigned)),            // 294 bgpValidityState
    Some(("netflow.ipsec_spi", Kind::Unsigned)),                     // 295 IPSecSPI
    Some(("netflow.gre_key", Kind::Unsigned)),                       // 296 greKey
    Some(("netflow.nat_type", Kind::Unsigned)),                      // 297 natType
    Some(("netflow.initiator_packets", Kind::Unsigned)),             // 298 initiatorPackets
    Some(("netflow.responder_packets", Kind::Unsigned)),             // 299 responderPackets
    Some(("netflow.observation_domain_name", Kind::String)),         // 300 observationDomainName
    Some(("netflow.selection_sequence_id", Kind::Unsigned)),         // 301 selectionSequenceId
    Some(("netflow.selector_id", Kind::Unsigned)),                   // 302 selectorId
    Some(("netflow.information_element_id", Kind::Unsigned)),        // 303 informationElementId
    Some(("netflow.selector_algorithm", Kind::Unsigned)),            // 304 selectorAlgorithm
    Some(("netflow.sampling_packet_interval", Kind::Unsigned)),      // 305 samplingPacketInterval
    Some(("netflow.sampling_packet_space", Kind::Unsigned)),         // 306 samplingPacketSpace
    Some(("netflow.sampling_time_interval", Kind::Unsigned)),        // 307 samplingTimeInterval
    Some(("netflow.sampling_time_space", Kind::Unsigned)),           // 308 samplingTimeSpace
    Some(("netflow.sampling_size", Kind::Unsigned)),                 // 309 samplingSize
    Some(("netflow.sampling_population", Kind::Unsigned)),           // 310 samplingPopulation
    Some(("netflow.sampling_probability", Kind::Float)),             // 311 samplingProbability
    Some(("netflow.data_link_frame_size", Kind::Unsigned)),          // 312 dataLinkFrameSize
    Some(("netflow.ip_header_packet_section", Kind::Octets)),        // 313 ipHeaderPacketSection
    Some(("netflow.ip_payload_packet_section", Kind::Octets)),       // 314 ipPayloadPacketSection
    Some(("netflow.data_link_frame_section", Kind::Octets)),         // 315 dataLinkFrameSection
    Some(("netflow.mpls_label_stack_section", Kind::Octets)),        // 316 mplsLabelStackSection
    Some(("netflow.mpls_payload_packet_section", Kind::Octets)),     // 317 mplsPayloadPacketSection
    Some(("netflow.selector_id_total_pkts_observed", Kind::Unsigned)), // 318 selectorIdTotalPktsObserved
    Some(("netflow.selector_id_total_pkts_selected", Kind::Unsigned)), // 319 selectorIdTotalPktsSelected
    Some(("netflow.absolute_error", Kind::Float)),                     // 320 absoluteError
    Some(("netflow.relative_error", Kind::Float)),                     // 321 relativeError
    Some(("netflow.observation_time_seconds", Kind::Seconds)),         // 322 observationTimeSeconds
    Some(("netflow.observation_time_milliseconds", Kind::Millis)), // 323 observationTimeMilliseconds
    Some(("netflow.observation_time_microseconds", Kind::Micros)), // 324 observationTimeMicroseconds
    Some(("netflow.observation_time_nanoseconds", Kind::Nanos)),   // 325 observationTimeNanoseconds
    Some(("netflow.digest_hash_value", Kind::Unsigned)),           // 326 digestHashValue
    Some(("netflow.hash_ip_payload_offset", Kind::Unsigned)),      // 327 hashIPPayloadOffset
    Some(("netflow.hash_ip_payload_size", Kind::Unsigned)),        // 328 hashIPPayloadSize
    Some(("netflow.hash_output_range_min", Kind::Unsigned)),       // 329 hashOutputRangeMin
    Some(("netflow.hash_output_range_max", Kind::Unsigned)),       // 330 hashOutputRangeMax
    Some(("netflow.hash_selected_range_min", Kind::Unsigned)),     // 331 hashSelectedRangeMin
    Some(("netflow.hash_selected_range_max", Kind::Unsigned)),     // 332 hashSelectedRangeMax
    Some(("netflow.hash_digest_output", Kind::Boolean)),           // 333 hashDigestOutput
    Some(("netflow.hash_initialiser_value", Kind::Unsigned)),      // 334 hashInitialiserValue
    Some(("netflow.selector_name", Kind::String)),                 // 335 selectorName
    Some(("netflow.upper_ci_limit", Kind::Float)),                 // 336 upperCILimit
    Some(("netflow.lower_ci_limit", Kind::Float)),                 // 337 lowerCILimit
    Some(("netflow.confidence_level", Kind::Float)),               // 338 confidenceLevel
    Some(("netflow.information_element_data_type", Kind::Unsigned)), // 339 informationElementDataType
    Some(("netflow.information_element_description", Kind::String)), // 340 informationElementDescription
    Some(("netflow.information_element_name", Kind::String)),        // 341 informationElementName
    Some(("netflow.information_element_range_begin", Kind::Unsigned)), // 342 informationElementRangeBegin
    Some(("netflow.information_element_range_end", Kind::Unsigned)), // 343 informationElementRangeEnd
    Some(("netflow.information_element_semantics", Kind::Unsigned)), // 344 informationElementSemantics
    Some(("netflow.information_element_units", Kind::Unsigned)),     // 345 informationElementUnits
    Some(("netflow.private_enterprise_number", Kind::Unsigned)),     // 346 privateEnterpriseNumber
    Some(("netflow.virtual_station_interface_id", Kind::Octets)), // 347 virtualStationInterfaceId
    Some(("netflow.virtual_station_interface_name", Kind::String)), // 348 virtualStationInterfaceName
    Some(("netflow.virtual_station_uuid", Kind::Octets)),           // 349 virtualStationUUID
    Some(("netflow.virtual_station_name", Kind::String)),           // 350 virtualStationName
    Some(("netflow.layer2_segment_id", Kind::Unsigned)),            // 351 layer2SegmentId
    Some(("netflow.layer2_octet_delta_count", Kind::Unsigned)),     // 352 layer2OctetDeltaCount
    Some(("netflow.layer2_octet_total_count", Kind::Unsigned)),     // 353 layer2OctetTotalCount
    Some(("netflow.ingress_unicast_packet_total_count", Kind::Unsigned)), // 354 ingressUnicastPacketTotalCount
    Some((
        "netflow.ingress_multicast_packet_total_count",
        Kind::Unsigned,
    )), // 355 ingressMulticastPacketTotalCount
    Some((
        "netflow.ingress_broadcast_packet_total_count",
        Kind::Unsigned,
    )), // 356 ingressBroadcastPacketTotalCount
    Some(("netflow.egress_unicast_packet_total_count", Kind::Unsigned)), // 357 egressUnicastPacketTotalCount
    Some((
        "netflow.egress_broadcast_packet_total_count",
        Kind::Unsigned,
    )), // 358 egressBroadcastPacketTotalCount
    Some((
        "netflow.monitoring_interval_start_milli_seconds",
        Kind::Millis,
    )), // 359 monitoringIntervalStartMilliSeconds
    Some((
        "netflow.monitoring_interval_end_milli_seconds",
        Kind::Millis,
    )), // 360 monitoringIntervalEndMilliSeconds
    Some(("netflow.port_range_start", Kind::Unsigned)),                  // 361 portRangeStart
    Some(("netflow.port_range_end", Kind::Unsigned)),                    // 362 portRangeEnd
    Some(("netflow.port_range_step_size", Kind::Unsigned)),              // 363 portRangeStepSize
    Some(("netflow.port_range_num_ports", Kind::Unsigned)),              // 364 portRangeNumPorts
    Some(("netflow.sta_mac_address", Kind::Mac)),                        // 365 staMacAddress
    Some(("netflow.sta_ipv4_address", Kind::Ipv4)),                      // 366 staIPv4Address
    Some(("netflow.wtp_mac_address", Kind::Mac)),                        // 367 wtpMacAddress
    Some(("netflow.ingress_interface_type", Kind::Unsigned)),            // 368 ingressInterfaceType
    Some(("netflow.egress_interface_type", Kind::Unsigned)),             // 369 egressInterfaceType
    Some(("netflow.rtp_sequence_number", Kind::Unsigned)),               // 370 rtpSequenceNumber
    Some(("netflow.user_name", Kind::String)),                           // 371 userName
    Some(("netflow.application_category_name", Kind::String)), // 372 applicationCategoryName
    Some(("netflow.application_sub_category_name", Kind::String)), // 373 applicationSubCategoryName
    Some(("netflow.application_group_name", Kind::String)),    // 374 applicationGroupName
    Some(("netflow.original_flows_present", Kind::Unsigned)),  // 375 originalFlowsPresent
    Some(("netflow.original_flows_initiated", Kind::Unsigned)), // 376 originalFlowsInitiated
    Some(("netflow.original_flows_completed", Kind::Unsigned)), // 377 originalFlowsCompleted
    Some((
        "netflow.distinct_count_of_source_ip_address",
        Kind::Unsigned,
    )), // 378 distinctCountOfSourceIPAddress
    Some((
        "netflow.distinct_count_of_destination_ip_address",
        Kind::Unsigned,
    )), // 379 distinctCountOfDestinationIPAddress
    Some((
        "netflow.distinct_count_of_source_ipv4_address",
        Kind::Unsigned,
    )), // 380 distinctCountOfSourceIPv4Address
    Some((
        "netflow.distinct_count_of_destination_ipv4_address",
        Kind::Unsigned,
    )), // 381 distinctCountOfDestinationIPv4Address
    Some((
        "netflow.distinct_count_of_source_ipv6_address",
        Kind::Unsigned,
    )), // 382 distinctCountOfSourceIPv6Address
    Some((
        "netflow.distinct_count_of_destination_ipv6_address",
        Kind::Unsigned,
    )), // 383 distinctCountOfDestinationIPv6Address
    Some(("netflow.value_distribution_method", Kind::Unsigned)), // 384 valueDistributionMethod
    Some(("netflow.rfc3550_jitter_milliseconds", Kind::Unsigned)), // 385 rfc3550JitterMilliseconds
    Some(("netflow.rfc3550_jitter_microseconds", Kind::Unsigned)), // 386 rfc3550JitterMicroseconds
    Some(("netflow.rfc3550_jitter_nanoseconds", Kind::Unsigned)), // 387 rfc3550JitterNanoseconds
    Some(("netflow.dot1q_dei", Kind::Boolean)),                // 388 dot1qDEI
    Some(("netflow.dot1q_customer_dei", Kind::Boolean)),       // 389 dot1qCustomerDEI
    Some(("netflow.flow_selector_algorithm", Kind::Unsigned)), // 390 flowSelectorAlgorithm
    Some(("netflow.flow_selected_octet_delta_count", Kind::Unsigned)), // 391 flowSelectedOctetDeltaCount
    Some(("netflow.flow_selected_packet_delta_count", Kind::Unsigned)), // 392 flowSelectedPacketDeltaCount
    Some(("netflow.flow_selected_flow_delta_count", Kind::Unsigned)), // 393 flowSelectedFlowDeltaCount
    Some(("netflow.selector_id_total_flows_observed", Kind::Unsigned)), // 394 selectorIDTotalFlowsObserved
    Some(("netflow.selector_id_total_flows_selected", Kind::Unsigned)), // 395 selectorIDTotalFlowsSelected
    Some(("netflow.sampling_flow_interval", Kind::Unsigned)),           // 396 samplingFlowInterval
    Some(("netflow.sampling_flow_spacing", Kind::Unsigned)),            // 397 samplingFlowSpacing
    Some(("netflow.flow_sampling_time_interval", Kind::Unsigned)), // 398 flowSamplingTimeInterval
    Some(("netflow.flow_sampling_time_spacing", Kind::Unsigned)),  // 399 flowSamplingTimeSpacing
    Some(("netflow.hash_flow_domain", Kind::Unsigned)),            // 400 hashFlowDomain
    Some(("netflow.transport_octet_delta_count", Kind::Unsigned)), // 401 transportOctetDeltaCount
    Some(("netflow.transport_packet_delta_count", Kind::Unsigned)), // 402 transportPacketDeltaCount
    Some(("netflow.original_exporter_ipv4_address", Kind::Ipv4)), // 403 originalExporterIPv4Address
    Some(("netflow.original_exporter_ipv6_address", Kind::Ipv6)), // 404 originalExporterIPv6Address
    Some(("netflow.original_observation_domain_id", Kind::Unsigned)), // 405 originalObservationDomainId
    Some(("netflow.intermediate_process_id", Kind::Unsigned)),        // 406 intermediateProcessId
    Some(("netflow.ignored_data_record_total_count", Kind::Unsigned)), // 407 ignoredDataRecordTotalCount
    Some(("netflow.data_link_frame_type", Kind::Unsigned)),            // 408 dataLinkFrameType
    Some(("netflow.section_offset", Kind::Unsigned)),                  // 409 sectionOffset
    Some(("netflow.section_exported_octets", Kind::Unsigned)),         // 410 sectionExportedOctets
    Some(("netflow.dot1q_service_instance_tag", Kind::Octets)), // 411 dot1qServiceInstanceTag
    Some(("netflow.dot1q_service_instance_id", Kind::Unsigned)), // 412 dot1qServiceInstanceId
    Some(("netflow.dot1q_service_instance_priority", Kind::Unsigned)), // 413 dot1qServiceInstancePriority
    Some(("netflow.dot1q_customer_source_mac_address", Kind::Mac)), // 414 dot1qCustomerSourceMacAddress
    Some(("netflow.dot1q_customer_destination_mac_address", Kind::Mac)), // 415 dot1qCustomerDestinationMacAddress
    None,                                                                // 416
    Some(("netflow.post_layer2_octet_delta_count", Kind::Unsigned)), // 417 postLayer2OctetDeltaCount
    Some((
        "netflow.post_mcast_layer2_octet_delta_count",
        Kind::Unsigned,
    )), // 418 postMCastLayer2OctetDeltaCount
    None,                                                            // 419
    Some(("netflow.post_layer2_octet_total_count", Kind::Unsigned)), // 420 postLayer2OctetTotalCount
    Some((
        "netflow.post_mcast_layer2_octet_total_count",
        Kind::Unsigned,
    )), // 421 postMCastLayer2OctetTotalCount
    Some(("netflow.minimum_layer2_total_length", Kind::Unsigned)),   // 422 minimumLayer2TotalLength
    Some(("netflow.maximum_layer2_total_length", Kind::Unsigned)),   // 423 maximumLayer2TotalLength
    Some(("netflow.dropped_layer2_octet_delta_count", Kind::Unsigned)), // 424 droppedLayer2OctetDeltaCount
    Some(("netflow.dropped_layer2_octet_total_count", Kind::Unsigned)), // 425 droppedLayer2OctetTotalCount
    Some(("netflow.ignored_layer2_octet_total_count", Kind::Unsigned)), // 426 ignoredLayer2OctetTotalCount
    Some(("netflow.not_sent_layer2_octet_total_count", Kind::Unsigned)), // 427 notSentLayer2OctetTotalCount
    Some(("netflow.layer2_octet_delta_sum_of_squares", Kind::Unsigned)), // 428 layer2OctetDeltaSumOfSquares
    Some(("netflow.layer2_octet_total_sum_of_squares", Kind::Unsigned)), // 429 layer2OctetTotalSumOfSquares
    Some(("netflow.layer2_frame_delta_count", Kind::Unsigned)), // 430 layer2FrameDeltaCount
    Some(("netflow.layer2_frame_total_count", Kind::Unsigned)), // 431 layer2FrameTotalCount
    Some(("netflow.pseudo_wire_destination_ipv4_address", Kind::Ipv4)), // 432 pseudoWireDestinationIPv4Address
    Some(("netflow.ignored_layer2_frame_total_count", Kind::Unsigned)), // 433 ignoredLayer2FrameTotalCount
];
