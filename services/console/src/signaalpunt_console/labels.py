"""The console's words, Dutch first with English (the users' words; codes never shown alone)."""

from __future__ import annotations

from collections.abc import Callable

LANGUAGES = ("nl", "en")

WORDS: dict[str, tuple[str, str]] = {
    # pages and navigation
    "title": ("Signaalpunt eenzaamheid", "Signal point for loneliness"),
    "queue": ("Werkvoorraad", "Queue"),
    "social_map": ("Sociale kaart", "Social map"),
    "volunteers": ("Vrijwilligers", "Volunteers"),
    "reports": ("Rapportages", "Reports"),
    "sign_in": ("Inloggen", "Sign in"),
    "sign_out": ("Uitloggen", "Sign out"),
    "signed_in_as": ("Ingelogd als", "Signed in as"),
    "skip": ("Naar de inhoud", "Skip to content"),
    "language": ("English", "Nederlands"),
    # queue
    "acute": ("Acuut", "Acute"),
    "to_review": (
        "Te beoordelen: mogelijk acuut, of de dood genoemd",
        "To review: possibly acute, or naming death",
    ),
    "by_deadline": ("Op termijn", "By deadline"),
    "advice_113": (
        "Acuut: schakel direct 113 Zelfmoordpreventie (113 of 0800-0113) of de huisarts in.",
        "Acute: involve 113 Suicide Prevention (113 or 0800-0113) or the GP at once.",
    ),
    "cases": ("meldingen", "cases"),
    "overdue": ("te laat", "overdue"),
    "filter": ("Filteren", "Filter"),
    "any": ("alle", "any"),
    "no_cases": ("Geen meldingen.", "No cases."),
    "more_than_shown": (
        "Alleen de 200 urgentste meldingen staan hier; filter om de rest te zien.",
        "Only the 200 most urgent cases are shown; filter to see the rest.",
    ),
    "municipality": ("Gemeente", "Municipality"),
    "route": ("Route", "Route"),
    "priority": ("Prioriteit", "Priority"),
    "state": ("Status", "State"),
    "risk_groups": ("Risicogroepen", "Risk groups"),
    "received": ("Ontvangen", "Received"),
    "due": ("Eerste contact uiterlijk", "First contact due"),
    "review_due": ("Beoordelen uiterlijk", "Review due"),
    "channel": ("Kanaal", "Channel"),
    "open": ("Openen", "Open"),
    # case
    "case": ("Melding", "Case"),
    "decision": ("Triagebesluit", "Triage decision"),
    "the_signal": ("De melding", "The signal"),
    "export": ("Inzage-export (AVG art. 15)", "Right-of-access export (GDPR art. 15)"),
    "export_explained": (
        "Alles wat intake over deze melding bewaart, ontsleuteld, en wie het verwerkte. De export"
        " wordt zelf in het toegangslogboek vastgelegd.",
        "Everything intake holds on this signal, decrypted, and who processed it. The export is"
        " itself written to the access log.",
    ),
    "processed_by": ("Verwerkt door", "Processed by"),
    "erasure": ("Wissen (AVG art. 17)", "Erasure (GDPR art. 17)"),
    "erasure_explained": (
        "Kies de meldingen die echt over deze persoon gaan. Een tweede regisseur keurt het wissen"
        " goed (vier ogen); daarna zijn de gegevens in alle diensten onleesbaar.",
        "Choose the signals that really are about this person. A second coordinator approves the"
        " erasure (four eyes); then the data is unreadable in every service.",
    ),
    "scope": ("Wat wissen", "What to erase"),
    "erasure_reason": ("Grondslag", "Reason"),
    "confirm_open_acute": (
        "Er loopt een acute casus; ik wis toch",
        "An acute case is open; erase anyway",
    ),
    "request_erasure": ("Wissen aanvragen", "Request the erasure"),
    "approve": ("Goedkeuren en wissen", "Approve and erase"),
    "requested_by": ("Aangevraagd door", "Requested by"),
    "approved_by": ("Goedgekeurd door", "Approved by"),
    "words": ("Woorden van de melder", "The reporter's words"),
    "cues": ("Aangevinkt", "Ticked"),
    "reporter": ("Melder", "Reporter"),
    "person": ("Persoon", "Person"),
    "may_contact": ("Mag benaderd worden", "May be contacted"),
    "yes": ("ja", "yes"),
    "no": ("nee", "no"),
    "signal_unavailable": (
        "De melding zelf is nu niet te tonen",
        "The signal itself cannot be shown right now",
    ),
    "decided_by": ("Besloten door", "Decided by"),
    "rules_version": ("Regelset", "Rules version"),
    "why": ("Waarom", "Why"),
    "matched": ("Herkend", "Matched"),
    "matched_words": ("Woorden van de regels", "Words of the rules"),
    "lock": ("Bewerkslot", "Edit lock"),
    "take_lock": ("Slot nemen", "Take the lock"),
    "release_lock": ("Slot vrijgeven", "Release the lock"),
    "locked_by": ("Bewerkt door", "Being edited by"),
    "until": ("tot", "until"),
    "no_lock": ("Niemand bewerkt deze melding.", "Nobody is editing this case."),
    "confirm": ("Besluit bevestigen", "Confirm the decision"),
    "change": ("Besluit wijzigen", "Change the decision"),
    "reason": ("Reden (verplicht bij wijzigen)", "Reason (required for a change)"),
    "keep": ("ongewijzigd", "unchanged"),
    "steps": ("Stappen", "Steps"),
    "record_step": ("Stap vastleggen", "Record a step"),
    "step": ("Stap", "Step"),
    "close_reason": ("Reden van afsluiten", "Close reason"),
    "note": ("Notitie", "Note"),
    "help_question": ("Hulpvraag", "Help question"),
    "record_help_question": ("Hulpvraag vastleggen", "Record the help question"),
    "needs": ("Behoeften", "Needs"),
    "mobility": ("Mobiliteit", "Mobility"),
    "text": ("Toelichting", "Explanation"),
    "consent": (
        "De persoon stemt in met doorverwijzen",
        "The person agrees to be referred",
    ),
    "from_cues": ("Voorgesteld uit de triage", "Suggested by the triage"),
    "referrals": ("Doorverwijzingen", "Referrals"),
    "no_referrals": ("Nog geen doorverwijzingen.", "No referrals yet."),
    "send_referral": ("Doorverwijzing versturen", "Send the referral"),
    "action": ("Actie", "Action"),
    "timeline": ("Tijdlijn", "Timeline"),
    "contact_attempts": ("Contactpogingen", "Contact attempts"),
    "save": ("Opslaan", "Save"),
    "back": ("Terug", "Back"),
    # outcomes
    "saved": ("Opgeslagen.", "Saved."),
    "refused": ("Niet gelukt", "Not done"),
    "unavailable": (
        "Deze dienst is nu niet bereikbaar. Probeer het zo opnieuw.",
        "This service cannot be reached right now. Please try again shortly.",
    ),
    "not_found": ("Niet gevonden", "Not found"),
    "csrf": (
        "Het formulier is verlopen. Laad de pagina opnieuw en probeer het nog eens.",
        "The form has expired. Reload the page and try again.",
    ),
    "signed_out": ("U bent uitgelogd.", "You are signed out."),
    "sign_in_failed": ("Inloggen is niet gelukt", "Signing in did not succeed"),
    "staff_only": (
        "De console is alleen voor medewerkers van het signaalpunt.",
        "The console is for the signal point's staff only.",
    ),
    "capacity": ("Capaciteit", "Capacity"),
    "organisation": ("Organisatie", "Organisation"),
    "service": ("Aanbod", "Offer"),
    "search": ("Zoeken", "Search"),
    "gaps": ("Witte vlekken", "Gap report"),
    "evaluation": ("Evaluatie van het aanbod", "Offer evaluation"),
    "received_referrals": ("Ontvangen", "Received"),
    "accepted": ("Geaccepteerd", "Accepted"),
    "completed": ("Afgerond", "Completed"),
    "declined": ("Afgewezen", "Declined"),
    "decline_reasons": ("Redenen van afwijzen", "Decline reasons"),
    "dashboards": ("Dashboards in Grafana", "Dashboards in Grafana"),
    "status": ("Status", "Status"),
    # referral outcomes and matches on the case page
    "record_outcome": ("Uitkomst vastleggen (telefonisch)", "Record the outcome (by phone)"),
    "outcome": ("Uitkomst", "Outcome"),
    "decline_reason": ("Reden van afwijzen (bij afgewezen)", "Reason (when declined)"),
    "volunteer_match": ("Vrijwilliger gezocht", "Volunteer sought"),
    "failed_constraint": ("Niemand gevonden door", "Nobody found because of"),
    "attempt": ("Poging", "Attempt"),
    "real_match": ("Echte klik?", "A real match?"),
    "first_meeting_held": ("Eerste ontmoeting gehad", "First meeting held"),
    "end_reason": ("Reden van beëindigen", "Reason for ending"),
    "end_match": ("Koppeling beëindigen", "End the match"),
    "follow_up_question": (
        "Nazorg na vier weken: is het een echte klik geworden?",
        "Four-week follow-up: did it become a real match?",
    ),
    # messages sent for a case
    "messages": ("Berichten verstuurd", "Messages sent"),
    "messages_not_for_role": (
        "Welke berichten zijn verstuurd ziet de regisseur.",
        "The coordinator sees which messages were sent.",
    ),
    "no_messages": ("Geen berichten voor deze melding.", "No messages for this case."),
    "when": ("Wanneer", "When"),
    "message": ("Bericht", "Message"),
    "to": ("Aan", "To"),
    "attempts": ("pogingen", "attempts"),
    # social map, volunteers, imports
    "places": ("Open plekken / totaal", "Open places / total"),
    "open_places": ("Open plekken", "Open places"),
    "capacity_total": ("Plekken totaal", "Places in total"),
    "import": ("Importeren", "Import"),
    "import_map_explained": (
        "Een HSDS JSON-bestand, of de HSDS CSV-tabellen samen (organizations.csv, services.csv,"
        " …). Bestaande organisaties en aanbod worden bijgewerkt; geweigerde rijen staan daarna"
        " met de reden in een lijst.",
        "One HSDS JSON file, or the HSDS CSV tables together (organizations.csv, services.csv,"
        " …). Existing organisations and services are updated; refused rows are listed"
        " afterwards with the reason.",
    ),
    "import_map_files": ("Bestand(en)", "File(s)"),
    "import_volunteers_explained": (
        "Een CSV-bestand met een kopregel (municipality, external_id, first_name, …; lijsten"
        " gescheiden door ;). Bestaande vrijwilligers (zelfde external_id) worden bijgewerkt;"
        " geweigerde regels staan daarna met de reden in een lijst.",
        "A CSV file with a header row (municipality, external_id, first_name, …; lists"
        " separated by ;). Existing volunteers (same external_id) are updated; refused lines"
        " are listed afterwards with the reason.",
    ),
    "import_volunteers_file": ("CSV-bestand", "CSV file"),
    "volunteer": ("Vrijwilliger", "Volunteer"),
    "skills": ("Vaardigheden", "Skills"),
    "matches_places": ("Koppelingen / maximaal", "Matches / at most"),
    "max_matches": ("Maximaal koppelingen", "Matches at most"),
    "progress": ("Voortgang", "Progress"),
    "rows_sent": ("Rijen verwerkt", "Rows processed"),
    "import_running": (
        "De import loopt. Laad de pagina opnieuw om de voortgang te zien.",
        "The import is running. Reload the page to see its progress.",
    ),
    "reload": ("Opnieuw laden", "Reload"),
    "import_stopped": ("De import is gestopt", "The import stopped"),
    "sign_in_again": ("log opnieuw in", "sign in again"),
    "import_done": ("Klaar", "Done"),
    "taken_in": ("opgenomen", "taken in"),
    "refused_rows": ("rijen geweigerd", "rows refused"),
    "refused_rows_caption": ("Geweigerde rijen, met de reden", "Refused rows, with the reason"),
    "where": ("Waar", "Where"),
    "refusal_reason": ("Reden", "Reason"),
    "id": ("Code", "Id"),
}


def translator(language: str) -> Callable[[str], str]:
    index = 1 if language == "en" else 0

    def t(key: str) -> str:
        pair = WORDS.get(key)
        return pair[index] if pair else key.replace("_", " ")

    return t


CODES: dict[str, tuple[str, str]] = {
    # routes
    "acuut": ("Acuut", "Acute"),
    "mogelijk_acuut": ("Mogelijk acuut", "Possibly acute"),
    "jeugdteam": ("Jeugdteam", "Youth team"),
    "team_eenzaamheid": ("Team eenzaamheid", "Loneliness team"),
    "team_welzijn": ("Team welzijn", "Welfare team"),
    "buiten_bereik": ("Buiten bereik", "Out of scope"),
    # priorities
    "acute": ("acuut", "acute"),
    "high": ("hoog", "high"),
    "normal": ("normaal", "normal"),
    "low": ("laag", "low"),
    # states
    "received": ("ontvangen", "received"),
    "triaged": ("getrieerd", "triaged"),
    "in_intake": ("in intake", "in intake"),
    "referred": ("doorverwezen", "referred"),
    "closed": ("afgesloten", "closed"),
    # risk groups
    "senior_75_plus": ("75-plusser", "aged 75 or over"),
    "youth_15_24": ("jongere (15-24)", "young person (15-24)"),
    "minor_under_15": ("kind (onder 15)", "child (under 15)"),
    "grief_and_loss": ("rouw en verlies", "grief and loss"),
    "disability_or_psychiatric": (
        "beperking of psychische aandoening",
        "disability or mental illness",
    ),
    "informal_carer": ("mantelzorger", "informal carer"),
    "homeless": ("dakloos", "homeless"),
    # steps
    "reporter_contacted": ("contact gelegd", "contact made"),
    "contact_attempt_failed": ("contactpoging mislukt", "contact attempt failed"),
    "not_reachable": ("niet bereikbaar", "not reachable"),
    "intake_done": ("intake gedaan", "intake done"),
    "reopened": ("heropend", "reopened"),
    "help_question_recorded": ("hulpvraag vastgelegd", "help question recorded"),
    # close reasons
    "support_arranged": ("ondersteuning geregeld", "support arranged"),
    "declined_by_person": ("persoon wil niet", "declined by the person"),
    "already_supported": ("al ondersteund", "already supported"),
    "out_of_scope": ("niet voor ons", "out of scope"),
    "duplicate": ("dubbele melding", "duplicate"),
    "deceased_or_moved": ("overleden of verhuisd", "deceased or moved"),
    # needs
    "social_contact": ("sociaal contact", "social contact"),
    "buddy": ("maatje", "buddy"),
    "daytime_activity": ("dagbesteding", "daytime activity"),
    "grief_support": ("rouwbegeleiding", "grief support"),
    "existential_conversation": ("zingevingsgesprek", "existential conversation"),
    "practical_help": ("praktische hulp", "practical help"),
    "digital_skills": ("digitale vaardigheden", "digital skills"),
    "language": ("taal", "language"),
    "debt_money": ("geldzaken en schulden", "money and debts"),
    "carer_relief": ("respijtzorg", "carer relief"),
    "youth_care": ("jeugdhulp", "youth care"),
    # mobility
    "travels_independently": ("reist zelfstandig", "travels independently"),
    "needs_transport": ("heeft vervoer nodig", "needs transport"),
    "housebound": ("aan huis gebonden", "housebound"),
    # referral statuses (prefixed: the same word means another thing for a match)
    "referral:proposed": ("voorgesteld", "proposed"),
    "referral:sent": ("verstuurd", "sent"),
    "referral:accepted": ("geaccepteerd", "accepted"),
    "referral:declined": ("afgewezen", "declined"),
    "referral:no_capacity": ("geen plek", "no capacity"),
    "referral:in_progress": ("in contact met de persoon", "in contact with the person"),
    "referral:completed": ("afgerond: het aanbod vond plaats", "completed: the offer took place"),
    "referral:could_not_contact": ("persoon niet bereikt", "could not contact the person"),
    "referral:no_longer_interested": ("persoon wil niet meer", "no longer interested"),
    "referral:referred_elsewhere": ("elders heen verwezen", "referred elsewhere"),
    "referral:withdrawn": ("ingetrokken door het team", "withdrawn by the team"),
    "decline:not_eligible": ("komt niet in aanmerking", "not eligible"),
    "decline:not_our_offer": ("niet ons aanbod", "not our offer"),
    "decline:waiting_list": ("wachtlijst", "waiting list"),
    "decline:other": ("anders", "other"),
    # match requests and matches
    "match:requested": ("gevraagd", "requested"),
    "match:proposed": ("voorgesteld aan een vrijwilliger", "proposed to a volunteer"),
    "match:accepted": ("vrijwilliger zegt ja", "the volunteer said yes"),
    "match:declined": ("vrijwilliger zegt nee", "the volunteer said no"),
    "match:expired": ("geen antwoord op tijd", "no answer in time"),
    "match:active": ("loopt (eerste ontmoeting gehad)", "active (first meeting held)"),
    "match:ended": ("beëindigd", "ended"),
    "match:unmatched": ("niemand gevonden", "nobody found"),
    "match:no_volunteer_found": ("niemand gevonden", "nobody found"),
    "end:completed": ("afgerond", "completed"),
    "end:person_stopped": ("persoon gestopt", "the person stopped"),
    "end:volunteer_stopped": ("vrijwilliger gestopt", "the volunteer stopped"),
    "end:not_a_fit": ("geen klik", "not a fit"),
    "end:withdrawn": ("ingetrokken", "withdrawn"),
    # messages (notifications' templates), their recipients and channels
    "template:coordinator_acute_alert": ("acuut-alarm", "acute alert"),
    "template:coordinator_deadline_missed": ("termijn verstreken", "deadline missed"),
    "template:coordinator_possible_acute": ("mogelijk acuut", "possibly acute"),
    "template:coordinator_review_missed": ("beoordeling te laat", "review overdue"),
    "template:coordinator_vog_expiring": ("VOG verloopt", "certificate of conduct expiring"),
    "template:organisation_referral": ("doorverwijzing", "referral"),
    "template:partner_refusal": ("melding van partner geweigerd", "partner's signal refused"),
    "template:reporter_handled": ("melding afgehandeld", "signal handled"),
    "template:reporter_in_progress": ("melding in behandeling", "signal in progress"),
    "template:reporter_received": ("ontvangstbevestiging", "receipt"),
    "template:route_assignment": ("nieuwe melding voor het team", "new case for the team"),
    "template:social_worker_match_accepted": ("koppeling aangenomen", "match accepted"),
    "template:social_worker_match_follow_up": ("nazorg koppeling", "match follow-up"),
    "template:team_referral_update": ("doorverwijzing bijgewerkt", "referral update"),
    "template:volunteer_proposal": ("voorstel aan vrijwilliger", "proposal to a volunteer"),
    "recipient:reporter": ("melder", "reporter"),
    "recipient:coordinator": ("regisseur", "coordinator"),
    "recipient:desk": ("loket", "desk"),
    "recipient:team": ("team", "team"),
    "recipient:partner": ("partner", "partner"),
    "recipient:organisation": ("organisatie", "organisation"),
    "recipient:volunteer": ("vrijwilliger", "volunteer"),
    "recipient:social_worker": ("sociaal werker", "social worker"),
    "channel:email": ("e-mail", "e-mail"),
    "channel:sms": ("sms", "text message"),
    "channel:webhook": ("koppeling (webhook)", "webhook"),
    # deliveries (notifications)
    "delivery:pending": ("wordt verstuurd", "being sent"),
    "delivery:queued": ("wacht (stille uren of limiet)", "waiting (quiet hours or limit)"),
    "delivery:sent": ("verstuurd", "sent"),
    "delivery:failed": ("mislukt", "failed"),
    # social map and volunteers
    "active": ("actief", "active"),
    "inactive": ("inactief", "inactive"),
    "temporarily closed": ("tijdelijk gesloten", "temporarily closed"),
    "defunct": ("opgeheven", "defunct"),
    "paused": ("gepauzeerd", "paused"),
    "left": ("gestopt", "left"),
}
"""The APIs' codes in the users' words; an unknown code is shown as it is."""


def wording(language: str) -> Callable[[object], str]:
    index = 1 if language == "en" else 0

    def word(code: object) -> str:
        pair = CODES.get(str(code))
        # an unknown code is shown as it is, without the console's own prefix ("referral:")
        return pair[index] if pair else str(code).split(":", 1)[-1]

    return word
