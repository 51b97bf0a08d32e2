# C-level declarations of omen._native.decision (asyncpg style: the cdef classes and their
# helpers are declared here and defined in decision.pyx). The semantics are those of
# omen.domain.decision.RulesetDecider; decision_py.py is the reference.

from omen._native.signalwire cimport Writer


cdef enum:
    # Results kept per memo (each is cleared when full).
    MEMO_ENTRIES = 4096


cdef class _Term:
    # What one matched term's payloads say, by kind, in payload order.
    cdef:
        object payloads      # the summarised tuple (an identity check guards the cache)
        str term             # its canonical text
        list place_keys      # isinstance(p, PlaceTerm): keys, regions, chokepoint keys
        list place_regions
        list named
        list topics          # type(p) is TopicTerm, and each one's fields:
        list topic_weights   #   weight
        list topic_keys      #   topic
        list vote_keys       #   (signal_type, category)
        list topic_domains   #   domains
        list off_groups      # type(p) is OffTopicTerm: groups
        list negative        # type(p) is DirectionTerm: weights pulling NEGATIVE
        list positive        #   and the others'
        bint port            # type(p) is PlaceTerm and p.kind == "port"


cdef class Decider:
    cdef:
        object _reference    # the domain's RulesetDecider: rule objects and rare slow paths
        dict _terms          # canonical term -> _Term
        dict _distinct_memo  # id(a text's matches) -> (those matches, their distinct _Terms)
        dict _semantic_memo  # (terms, named chokepoints) -> the semantic rule's result
        dict _classify_memo  # (terms, has a chokepoint) -> Classification
        dict _place_memo     # (terms, the locations' lat, lon, region code) -> (geo, result)
        # geography
        dict _region_codes
        dict _name_hits
        dict _points
        dict _kinds_of
        list _rows           # (chokepoint, latitude in radians, its cosine), by latitude
        double *_lat
        double *_cos
        double *_lon
        double *_radius
        Py_ssize_t _nrows
        double _max_dlat
        double _distance_km
        double _geo_chokepoint
        double _geo_location
        dict _score_of
        str _nothing_none
        str _nothing_some
        # liquidity
        double _liq_min
        double _liq_full
        str _liq_passed
        str _liq_failed
        # semantic
        object _semantic
        double _sem_min
        str _sem_min_text
        double _sem_saturation
        double _sem_chokepoint
        # anomaly
        object _anomaly
        double _jump_limit
        double _an_low
        double _an_high
        object _an_thin_below
        object _an_thin_volume
        double _an_z_warn
        object _anomaly_passed
        # freshness
        object _fresh_soon_ns
        double _fresh_warn_gap
        # confidence and the signal
        str _version
        str _version_prefix
        bytes _version_prefix_utf8
        dict _routing_prefix
        dict _reliability
        double _default_reliability
        double _w_rules, _w_liquidity, _w_evidence, _w_source
        double _liq_floor, _liq_scale, _evidence_full, _interval_base, _interval_spread
        double _level_high, _level_medium, _status_active, _status_monitoring
        double _status_candidate

    cdef list _distinct(self, object matches)
    cdef list _distinct_terms(self, object matches)
    cdef object _locate(self, object event, list terms)
    cdef tuple _place(self, object event, list terms)
    cdef tuple _evaluate(self, object event, list terms, object geo, object history,
                         object geographic)
    cdef object _liquidity(self, object event)
    cdef object _semantic_rule(self, list terms, object geo)
    cdef object _semantic_result(self, list terms, list named)
    cdef object _geographic(self, object event, object geo)
    cdef object _anomaly_rule(self, object event, object history)
    cdef object _anomaly_findings(self, object event, object history)
    cdef object _freshness_rule(self, object event)
    cdef object _classify(self, list terms, bint geo_has_chokepoint)
    cdef object _classification(self, list terms, bint geo_has_chokepoint)
    cdef tuple _build_signal(self, object event, object geo, object history,
                             object input_event_hash, object results, object classification,
                             object trace_id)
    cdef object _decide(self, object event, object text, object history,
                        object input_event_hash, object trace_id, object market_key)
    cdef object _encoded_signal(self, object event, object geo, object history,
                                object input_event_hash, object results,
                                object classification, object trace_id, object market_key)
    cdef object _assess(self, object event, object results, Py_ssize_t evidence, double *v)
    cdef object _write_signal(self, Writer *w, object event, object geo, object history,
                              object input_event_hash, object results, object classification,
                              object trace_id, object market_key)
    cdef Py_ssize_t _evidence_count(self, object event, object geo, object history,
                                    object classification) except -1
    cdef bint _put_evidence(self, Writer *w, object event, object geo, object history,
                            object classification) except -1
    cdef list _evidence_items(self, object event, object geo, object history,
                              object classification)
    cdef str _signal_id_of(self, object input_event_hash)
