# services.e2et.coordinator.notifications: where e2etd sends notices of runs
# and PDU errors. The coordinator module imports this file and turns the
# targets into its notify configuration and credentials.
{ lib, ... }:

let
  inherit (lib) mkOption types;
in
{
  options.services.e2et.coordinator = {
    notifications = mkOption {
      type = types.listOf (
        types.submodule {
          options = {
            name = mkOption {
              type = types.strMatching "[A-Za-z0-9_-]+";
              description = "Name of the target (in logs and metrics; names its secret credential).";
            };
            kind = mkOption {
              type = types.enum [
                "ntfy"
                "webhook"
                "smtp"
              ];
              description = "ntfy topic, generic JSON webhook (HMAC-SHA256 signed), or SMTP mail.";
            };
            events = mkOption {
              type = types.nonEmptyListOf (
                types.enum [
                  "run_failed"
                  "run_transient"
                  "run_passed"
                  "run_held"
                  "pdu_error"
                ]
              );
              description = "Event kinds this target is told about.";
            };
            url = mkOption {
              type = types.nullOr types.str;
              default = null;
              description = "ntfy: the topic's URL; webhook: where the JSON is posted.";
            };
            secretFile = mkOption {
              type = types.nullOr types.str;
              default = null;
              description = ''
                ntfy: an access token (optional); webhook: the HMAC key (required);
                smtp: the password of `user`. Passed as a systemd credential, never
                through the Nix store.
              '';
            };
            server = mkOption {
              type = types.nullOr types.str;
              default = null;
              example = "smtp.example.org:587";
              description = "smtp: host:port of the relay.";
            };
            tls = mkOption {
              type = types.enum [
                "none"
                "starttls"
                "tls"
              ];
              default = "starttls";
              description = "smtp: transport security (none only for a relay on localhost).";
            };
            from = mkOption {
              type = types.nullOr types.str;
              default = null;
              description = "smtp: sender address.";
            };
            to = mkOption {
              type = types.listOf types.str;
              default = [ ];
              description = "smtp: recipients.";
            };
            user = mkOption {
              type = types.nullOr types.str;
              default = null;
              description = "smtp: user to authenticate as (password in secretFile).";
            };
          };
        }
      );
      default = [ ];
      example = lib.literalExpression ''
        [
          { name = "oncall"; kind = "ntfy"; url = "https://ntfy.example.org/e2et"; events = [ "run_failed" "pdu_error" ]; }
          { name = "jenkins"; kind = "webhook"; url = "https://jenkins.example.org/generic-webhook-trigger/invoke";
            secretFile = "/var/lib/e2et-secrets/webhook"; events = [ "run_failed" "run_passed" "run_held" ]; }
        ]
      '';
      description = ''
        Where e2etd sends notices of finished, held and failed runs and of PDU
        errors. Delivery is retried, then logged; it never delays a run.
      '';
    };
  };
}
