-- telecon settings for Prosody on a package (Debian/Ubuntu) or hand-made Jitsi Meet install.
--
-- Not a complete file and not meant to be Include'd next to the existing one: merge these lines into the
-- matching sections of /etc/prosody/conf.avail/<your Jitsi host>.cfg.lua and keep everything else there.
-- Below, meet.example.org stands for the XMPP domain of that file (the name in its first VirtualHost line,
-- which on a package install is the public host name). deploy/jitsi/README.md explains every line.
--
-- The option and module names are the ones read by jitsi-meet's resources/prosody-plugins
-- (mod_auth_token, mod_token_verification, token/util.lib.lua, mod_token_affiliation, mod_filter_iq_jibri).

-- Global section (near the top, before the first VirtualHost). A package install already has both lines.
plugin_paths = { "/usr/share/jitsi-meet/prosody-plugins/" }
muc_mapper_domain_base = "meet.example.org"
-- The MUC prefix defaults to "conference"; set it only if your MUC component is not conference.<domain>.
-- muc_mapper_domain_prefix = "conference"

VirtualHost "meet.example.org"
    -- Every connection must present a token signed by telecon.
    authentication = "token"
    app_id = "telecon"                            -- TELECON_JITSI_APP_ID
    app_secret = "change-me-to-the-telecon-secret" -- TELECON_JITSI_APP_SECRET
    allow_empty_token = false

    -- telecon sets iss and aud to the app id; accept nothing else.
    asap_accepted_issuers = { "telecon" }
    asap_accepted_audiences = { "telecon" }

    -- sub must name this domain: a token minted for another Jitsi server is refused here.
    -- TELECON_JITSI_SUB = "meet.example.org" (the part of the MUC domain after "conference.").
    enable_domain_verification = true

    -- telecon signs HS256. Leave this out, or if you pin it, pin HS256.
    -- signature_algorithm = "HS256"

    modules_enabled = {
        -- keep the modules already listed here (bosh, ping, muc_lobby_rooms, ...) and add:
        "filter_iq_jibri"; -- refuses recording/streaming requests the token does not allow
    }

    -- The lobby must stay configured: the specialist's join page switches it on.
    -- lobby_muc = "lobby.meet.example.org"
    -- main_muc = "conference.meet.example.org"

-- Rooms live here; the room check and the moderator rule are loaded on this component.
Component "conference.meet.example.org" "muc"
    modules_enabled = {
        -- keep the modules already listed here (muc_meeting_id, muc_domain_mapper, polls, ...) and add:
        "token_verification"; -- room claim and, with enable_domain_verification, sub are checked on join
        "token_affiliation";  -- context.user.moderator true -> owner (moderator); other token holders -> member
    }
    -- Remove any module that hands out ownership on its own, or token_affiliation is overruled:
    --   "muc_allowners", "token_moderation", and "muc_wait_for_host" (unless
    --   wait_for_host_disable_auto_owners = true is set here).
